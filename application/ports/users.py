from __future__ import annotations

from decimal import Decimal
from typing import Protocol
from uuid import UUID

from domain.model import User
from domain.wallet import ZERO


class UserStore(Protocol):
    async def create_user(self, user: User, key_hash: bytes, starting_credits: Decimal = ZERO) -> None:
        """Store the user with its first API key hash and its wallet holding a starting grant of
        `starting_credits`, in one transaction; raise EmailTaken on a duplicate e-mail."""
        ...

    async def user_for_key(self, key_hash: bytes) -> User | None:
        """The owner of a live (not revoked) key."""
        ...

    async def forget_user(self, user_id: UUID) -> None:
        """Drop whatever is cached about the user: its role or suspension just changed."""
        ...
