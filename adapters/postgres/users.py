from __future__ import annotations

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


class PostgresUserStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

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
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_USER_BY_KEY, {"key_hash": key_hash})).fetchone()
        return to_user(row) if row else None
