"""Sign-up and authentication."""

from __future__ import annotations

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.users import UserStore
from domain.api_keys import hash_api_key, new_api_key
from domain.errors import Forbidden, Unauthorized
from domain.model import User


class Registration(msgspec.Struct, frozen=True, kw_only=True):
    user: User
    api_key: str


class RegisterUser:
    def __init__(self, users: UserStore, clock: Clock, ids: IdGenerator, *, open_signup: bool) -> None:
        self._users, self._clock, self._ids, self._open_signup = users, clock, ids, open_signup

    async def execute(self, email: str, display_name: str | None) -> Registration:
        if not self._open_signup:
            raise Forbidden("Open sign-up is switched off on this server.")
        user = User(id=self._ids.new_id(), email=email.strip(), display_name=display_name, created_at=self._clock.now())
        key = new_api_key()
        await self._users.create_user(user, hash_api_key(key))
        return Registration(user=user, api_key=key)


class Authenticate:
    def __init__(self, users: UserStore) -> None:
        self._users = users

    async def execute(self, api_key: str | None) -> User:
        user = await self._users.user_for_key(hash_api_key(api_key)) if api_key else None
        if user is None:
            raise Unauthorized("A valid API key is required: send 'Authorization: Bearer <api_key>'.")
        return user
