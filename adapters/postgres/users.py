from __future__ import annotations

import time
from typing import Any

from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from domain.errors import EmailTaken
from domain.model import User

INSERT_USER = """
INSERT INTO users (id, email, display_name, created_at)
VALUES (%(id)s, %(email)s, %(display_name)s, %(created_at)s)
"""
INSERT_KEY = """
INSERT INTO api_keys (id, user_id, key_hash, created_at) VALUES (%(id)s, %(user_id)s, %(key_hash)s, %(created_at)s)
"""
SELECT_USER_BY_KEY = """
SELECT u.id, u.email, u.display_name, u.created_at
FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE k.key_hash = %(key_hash)s AND k.revoked_at IS NULL
"""


def to_user(row: dict[str, Any]) -> User:
    return User(id=row["id"], email=row["email"], display_name=row["display_name"], created_at=row["created_at"])


KEY_CACHE_TTL_S = 30.0
KEY_CACHE_SIZE = 10_000


class PostgresUserStore:
    """Keys are looked up on every request; a key seen recently is answered from memory.

    Keys cannot be revoked through the API yet; when they can, revocation must clear this cache (or
    take effect within KEY_CACHE_TTL_S on other processes).
    """

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._recent: dict[bytes, tuple[float, User]] = {}

    async def create_user(self, user: User, key_hash: bytes) -> None:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(
                    INSERT_USER,
                    {
                        "id": user.id,
                        "email": user.email,
                        "display_name": user.display_name,
                        "created_at": user.created_at,
                    },
                )
                # The key row's id is the user's: one key per sign-up, revocable later.
                await conn.execute(
                    INSERT_KEY, {"id": user.id, "user_id": user.id, "key_hash": key_hash, "created_at": user.created_at}
                )
        except errors.UniqueViolation as exc:
            raise EmailTaken("A user with this e-mail already exists.") from exc

    async def user_for_key(self, key_hash: bytes) -> User | None:
        now = time.monotonic()
        hit = self._recent.get(key_hash)
        if hit is not None and now - hit[0] < KEY_CACHE_TTL_S:
            return hit[1]
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_USER_BY_KEY, {"key_hash": key_hash})
            row = await cur.fetchone()
        if row is None:
            return None  # unknown keys are never cached: a guess costs a query, not memory
        if len(self._recent) >= KEY_CACHE_SIZE:
            self._recent.clear()
        self._recent[key_hash] = (now, to_user(row))
        return self._recent[key_hash][1]
