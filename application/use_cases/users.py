"""Sign-up and authentication."""

from __future__ import annotations

import math
from decimal import Decimal

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.limits import RequestLimiter
from application.ports.users import UserStore
from domain.api_keys import hash_api_key, new_api_key
from domain.errors import Forbidden, RateLimited, Unauthorized
from domain.model import User
from domain.wallet import DEFAULT_STARTING_CREDITS


class Registration(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    api_key: str


class RegisterUser:
    def __init__(
        self,
        users: UserStore,
        clock: Clock,
        ids: IdGenerator,
        *,
        open_signup: bool,
        starting_credits: Decimal = DEFAULT_STARTING_CREDITS,
    ) -> None:
        self._users, self._clock, self._ids, self._open_signup = users, clock, ids, open_signup
        self._starting_credits = starting_credits

    async def execute(self, email: str, display_name: str | None) -> Registration:
        if not self._open_signup:
            raise Forbidden("Open sign-up is switched off on this server.")
        user = User(id=self._ids.new_id(), email=email.strip(), display_name=display_name, created_at=self._clock.now())
        key = new_api_key()
        await self._users.create_user(user, hash_api_key(key), self._starting_credits)
        return Registration(user=user, api_key=key)


class Authenticate:
    """The caller of a request: a live key, a user not suspended, within the per-minute rate."""

    def __init__(self, users: UserStore, limiter: RequestLimiter | None = None) -> None:
        self._users, self._limiter = users, limiter

    async def execute(self, api_key: str | None) -> User:
        user = await self._users.user_for_key(hash_api_key(api_key)) if api_key else None
        if user is None:
            raise Unauthorized("A valid API key is required: send 'Authorization: Bearer <api_key>'.")
        if user.suspended:
            raise Forbidden("This account is suspended; ask an operator.")
        wait = self._limiter.admit(user.id) if self._limiter is not None else None
        if wait is not None and self._limiter is not None:
            raise RateLimited(
                f"At most {self._limiter.limit} requests a minute.",
                limit=self._limiter.limit,
                retry_after_s=math.ceil(wait),
            )
        return user
