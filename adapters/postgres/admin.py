"""The operator's queries: accounts with wallets, audited writes, usage across users, the ledger export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.ledger import LEDGER_COLUMNS
from adapters.postgres.users import INSERT_KEY, INSERT_USER, open_wallet
from adapters.postgres.wallet import INSERT_GRANT, SELECT_KEYED, SPENT
from application.ports.admin import Account, AdminGroupBy, AdminUsage, AuditEntry, AuditNote, Grant
from application.ports.turns import LedgerEntry
from application.ports.wallet import CreditTransaction
from domain.model import User
from domain.wallet import Credits, month_of

SELECT_ACCOUNTS = f"""
SELECT u.id, u.email, u.display_name, u.role, u.suspended_at IS NOT NULL AS suspended, u.created_at,
       w.balance, w.reserved, w.monthly_cap, {SPENT} AS spent_this_month
FROM users u JOIN wallets w ON w.user_id = u.id
"""
SELECT_ACCOUNT_PAGE = (
    SELECT_ACCOUNTS
    + """WHERE %(after_at)s::timestamptz IS NULL OR (u.created_at, u.id) > (%(after_at)s, %(after_id)s::uuid)
ORDER BY u.created_at, u.id LIMIT %(limit)s"""
)
SELECT_ACCOUNT = SELECT_ACCOUNTS + "WHERE u.id = %(user_id)s"
# What an audit row records of its target before and after the write; FOR UPDATE (the wallet row)
# orders the write after any movement of that wallet in flight.
SNAPSHOT = """
SELECT jsonb_build_object('role', u.role, 'suspended', u.suspended_at IS NOT NULL,
                          'monthly_cap', w.monthly_cap::text, 'balance', w.balance::text) AS snapshot
FROM users u JOIN wallets w ON w.user_id = u.id WHERE u.id = %(user_id)s
"""
LOCK_SNAPSHOT = SNAPSHOT + "FOR UPDATE OF w"
INSERT_AUDIT = """
INSERT INTO admin_audit (id, actor_id, action, target_user_id, before, after, created_at)
VALUES (%(id)s, %(actor_id)s, %(action)s, %(target)s, %(before)s, %(after)s, %(at)s)
"""
SET_CAP = "UPDATE wallets SET monthly_cap = %(cap)s WHERE user_id = %(user_id)s"
SET_SUSPENDED = """
UPDATE users SET suspended_at = CASE WHEN %(suspended)s THEN coalesce(suspended_at, %(at)s) END
WHERE id = %(user_id)s
"""
SELECT_USER_BY_EMAIL = "SELECT id FROM users WHERE lower(email) = lower(%(email)s) FOR UPDATE"
MAKE_ADMIN = "UPDATE users SET role = 'admin' WHERE id = %(user_id)s"
SELECT_AUDIT = """
SELECT id, actor_id, action, target_user_id, before, after, created_at FROM admin_audit
WHERE %(before_at)s::timestamptz IS NULL OR (created_at, id) < (%(before_at)s, %(before_id)s::uuid)
ORDER BY created_at DESC, id DESC LIMIT %(limit)s
"""
# Group keys are fixed expressions chosen from this table, never text from the request.
GROUP_KEYS = {
    "user": sql.SQL("e.user_id::text"),
    "model": sql.SQL("e.model_alias"),
    "day": sql.SQL("to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
}
USAGE = sql.SQL("""
SELECT {key} AS key, count(*) AS llm_calls,
       coalesce(sum(e.input_tokens_fresh + e.input_tokens_cached), 0) AS input_tokens,
       coalesce(sum(e.output_tokens), 0) AS output_tokens,
       coalesce(sum(e.credits_burned), 0) AS credits,
       coalesce(sum(e.provider_cost_usd), 0) AS provider_cost_usd,
       round(coalesce(sum(e.credits_burned * p.overage_usd_per_credit - e.provider_cost_usd), 0), 8) AS margin_usd,
       count(DISTINCT e.user_id) AS active_users
FROM llm_call_events e JOIN pricing_versions p ON p.version = e.pricing_version
WHERE e.created_at >= %(start)s AND e.created_at < %(end)s
GROUP BY 1 ORDER BY 1
""")
SELECT_LEDGER_RANGE = f"""
SELECT {LEDGER_COLUMNS} FROM llm_call_events
WHERE created_at >= %(start)s AND created_at < %(end)s ORDER BY created_at, id
"""
CSV_BATCH = 1000  # rows fetched per round trip by the server-side cursor


def _bounds(start: date, end: date) -> dict[str, datetime]:
    """Whole UTC days, `end` included."""
    return {
        "start": datetime.combine(start, datetime.min.time(), UTC),
        "end": datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC),
    }


def to_account(row: dict[str, Any]) -> Account:
    return Account(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        role=row["role"],
        suspended=row["suspended"],
        created_at=row["created_at"],
        credits=Credits(
            balance=row["balance"],
            reserved=row["reserved"],
            monthly_cap=row["monthly_cap"],
            spent_this_month=row["spent_this_month"],
        ),
    )


class PostgresAdminStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def accounts(self, *, limit: int, after: tuple[datetime, UUID] | None, now: datetime) -> list[Account]:
        params = {
            "limit": limit,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "month": month_of(now),
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_ACCOUNT_PAGE, params)).fetchall()
        return [to_account(r) for r in rows]

    async def grant(self, user_id: UUID, grant: Grant, note: AuditNote) -> tuple[CreditTransaction, bool] | None:
        params = {
            "id": grant.id,
            "user_id": user_id,
            "kind": "grant" if grant.amount > 0 else "adjustment",
            "amount": grant.amount,
            "reason": grant.reason,
            "actor": grant.actor,
            "key": grant.idempotency_key,
            "at": note.at,
        }
        async with self._pool.connection() as conn, conn.transaction():
            before = await _snapshot(conn, user_id, lock=True)
            if before is None:
                return None
            row = await (await conn.execute(INSERT_GRANT, params)).fetchone()
            if row is None:  # this key was used: the first grant stands, nothing moves
                first = await (await conn.execute(SELECT_KEYED, params)).fetchone()
                assert first is not None
                return CreditTransaction(**first), False
            await _audit(conn, user_id, note, before)
            return CreditTransaction(**row), True

    async def set_cap(self, user_id: UUID, monthly_cap: Decimal | None, note: AuditNote) -> Account | None:
        return await self._audited(user_id, note, SET_CAP, {"cap": monthly_cap})

    async def set_suspended(self, user_id: UUID, suspended: bool, note: AuditNote) -> Account | None:
        return await self._audited(user_id, note, SET_SUSPENDED, {"suspended": suspended, "at": note.at})

    async def promote(self, user: User, key_hash: bytes, starting_credits: Decimal, note: AuditNote) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            found = await (await conn.execute(SELECT_USER_BY_EMAIL, {"email": user.email})).fetchone()
            created = found is None
            if created:
                await conn.execute(
                    INSERT_USER,
                    {
                        "id": user.id,
                        "email": user.email,
                        "display_name": user.display_name,
                        "created_at": user.created_at,
                    },
                )
                await open_wallet(conn, user, starting_credits)
            user_id = user.id if created else found["id"]  # type: ignore[index]
            before = None if created else await _snapshot(conn, user_id, lock=True)
            await conn.execute(MAKE_ADMIN, {"user_id": user_id})
            await conn.execute(
                INSERT_KEY, {"id": uuid4(), "user_id": user_id, "key_hash": key_hash, "created_at": note.at}
            )
            await _audit(conn, user_id, note, before)
            return created

    async def usage(self, start: date, end: date, group_by: AdminGroupBy) -> list[AdminUsage]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(USAGE.format(key=GROUP_KEYS[group_by]), _bounds(start, end))
            return [AdminUsage(**r) for r in await cur.fetchall()]

    async def ledger_rows(self, start: date, end: date) -> AsyncIterator[LedgerEntry]:
        # A server-side (named) cursor inside a transaction: rows come CSV_BATCH at a time, so a year of
        # them never sits in memory, here or in the driver.
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor(name=f"ledger_csv_{uuid4().hex}") as cur:
                cur.itersize = CSV_BATCH
                await cur.execute(SELECT_LEDGER_RANGE, _bounds(start, end))
                async for row in cur:
                    yield LedgerEntry(**row)

    async def audit_log(self, *, limit: int, before: tuple[datetime, UUID] | None) -> list[AuditEntry]:
        params = {
            "limit": limit,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_AUDIT, params)).fetchall()
        return [AuditEntry(**r) for r in rows]

    async def _audited(self, user_id: UUID, note: AuditNote, write: str, params: dict[str, Any]) -> Account | None:
        """`write` on the user, with its audit row (before and after), in one transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            before = await _snapshot(conn, user_id, lock=True)
            if before is None:
                return None
            await conn.execute(write, params | {"user_id": user_id})
            await _audit(conn, user_id, note, before)
            row = await (
                await conn.execute(SELECT_ACCOUNT, {"user_id": user_id, "month": month_of(note.at)})
            ).fetchone()
        return to_account(row) if row else None


async def _snapshot(conn: AsyncConnection[Any], user_id: UUID, *, lock: bool = False) -> dict[str, Any] | None:
    row = await (await conn.execute(LOCK_SNAPSHOT if lock else SNAPSHOT, {"user_id": user_id})).fetchone()
    return row["snapshot"] if row else None  # type: ignore[index]


async def _audit(conn: AsyncConnection[Any], user_id: UUID, note: AuditNote, before: dict[str, Any] | None) -> None:
    after = await _snapshot(conn, user_id)
    await conn.execute(
        INSERT_AUDIT,
        {
            "id": note.id,
            "actor_id": note.actor_id,
            "action": note.action,
            "target": user_id,
            "before": Jsonb(before) if before is not None else None,
            "after": Jsonb(after) if after is not None else None,
            "at": note.at,
        },
    )
