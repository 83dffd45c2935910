from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.wallet import INSERT_GRANT, INSERT_WALLET
from application.ports.wallet import STARTING_GRANT_KEY
from domain.errors import EmailTaken
from domain.model import User
from domain.wallet import ZERO, month_of

INSERT_USER = """
INSERT INTO users (id, email, display_name, created_at)
VALUES (%(id)s, %(email)s, %(display_name)s, %(created_at)s)
"""
INSERT_KEY = """
INSERT INTO api_keys (id, user_id, key_hash, created_at) VALUES (%(id)s, %(user_id)s, %(key_hash)s, %(created_at)s)
"""
SELECT_USER_BY_KEY = """
SELECT u.id, u.email, u.display_name, u.created_at, u.role, u.suspended_at IS NOT NULL AS suspended
FROM api_keys k JOIN users u ON u.id = k.user_id
WHERE k.key_hash = %(key_hash)s AND k.revoked_at IS NULL
"""


def to_user(row: dict[str, Any]) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        role=row.get("role", "user"),
        suspended=row.get("suspended", False),
    )


async def open_wallet(conn: AsyncConnection[Any], user: User, starting_credits: Decimal) -> None:
    """The new user's wallet and its starting grant (none when it is 0), in the caller's transaction."""
    await conn.execute(INSERT_WALLET, {"user_id": user.id, "month": month_of(user.created_at)})
    if starting_credits > 0:
        await conn.execute(
            INSERT_GRANT,
            {
                "id": user.id,  # the starting grant's id is its user's: one per user
                "user_id": user.id,
                "kind": "grant",
                "amount": starting_credits,
                "reason": "starting grant",
                "actor": "system",
                "key": STARTING_GRANT_KEY,
                "at": user.created_at,
            },
        )


class PostgresUserStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def create_user(self, user: User, key_hash: bytes, starting_credits: Decimal = ZERO) -> None:
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
                await open_wallet(conn, user, starting_credits)
        except errors.UniqueViolation as exc:
            raise EmailTaken("A user with this e-mail already exists.") from exc

    async def user_for_key(self, key_hash: bytes) -> User | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_USER_BY_KEY, {"key_hash": key_hash})).fetchone()
        return to_user(row) if row else None

    async def forget_user(self, user_id: UUID) -> None:
        """Nothing is cached here (CachedUserStore caches)."""
