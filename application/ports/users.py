from __future__ import annotations

from typing import Protocol

from domain.model import User


class UserStore(Protocol):
    async def create_user(self, user: User, key_hash: bytes) -> None:
        """Store the user with its first API key hash; raise EmailTaken on a duplicate e-mail."""
        ...

    async def user_for_key(self, key_hash: bytes) -> User | None:
        """The owner of a live (not revoked) key."""
        ...
