"""Wallets in PostgreSQL (invariant 8). Every movement of a user's credits locks that user's `wallets`
row (an UPDATE or SELECT ... FOR UPDATE), so reservations, settlements, grants and turn starts of one
user are serialized across server processes while other users never wait. `balance`, `reserved`
and `month_spent` live on that row, next to the append-only transactions they sum, so that every
check is made on the row's newest version under its lock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from application.ports.wallet import CreditTransaction, Reservation
from domain.wallet import ZERO, Credits, month_of

# What a month's cap counts: the debits of the wallet's `month`, or nothing once a new month began.
SPENT = "(CASE WHEN month = %(month)s THEN month_spent ELSE 0 END)"
# What a wallet can still reserve: its balance less what is held, within the month's cap.
FREE_ENOUGH = f"""balance - reserved >= %(amount)s
  AND (monthly_cap IS NULL OR monthly_cap - {SPENT} - reserved >= %(amount)s)"""

SELECT_CREDITS = f"""
SELECT balance, reserved, monthly_cap, {SPENT} AS spent_this_month FROM wallets WHERE user_id = %(user_id)s
"""
LOCK_CREDITS = SELECT_CREDITS + "FOR UPDATE"
INSERT_WALLET = "INSERT INTO wallets (user_id, balance, month) VALUES (%(user_id)s, 0, %(month)s)"
SELECT_TRANSACTIONS = """
SELECT id, kind, amount, reason, llm_call_event_id, actor, created_at FROM credit_transactions
WHERE user_id = %(user_id)s
  AND (%(before_at)s::timestamptz IS NULL OR (created_at, id) < (%(before_at)s, %(before_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s
"""
# A grant, adjustment or the starting grant: the transaction and the balance move in one statement.
# A repeated idempotency key inserts nothing and moves nothing.
INSERT_GRANT = """
WITH tx AS (
    INSERT INTO credit_transactions (id, user_id, kind, amount, reason, actor, idempotency_key, created_at)
    VALUES (%(id)s, %(user_id)s, %(kind)s, %(amount)s, %(reason)s, %(actor)s, %(key)s, %(at)s)
    ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, kind, amount, reason, llm_call_event_id, actor, created_at
), moved AS (
    UPDATE wallets SET balance = balance + (SELECT amount FROM tx)
    WHERE user_id = %(user_id)s AND EXISTS (SELECT 1 FROM tx)
)
SELECT * FROM tx
"""
SELECT_KEYED = """
SELECT id, kind, amount, reason, llm_call_event_id, actor, created_at FROM credit_transactions
WHERE user_id = %(user_id)s AND idempotency_key = %(key)s
"""
# Reserving, in one statement: the wallet moves only if the credits are there and this call_id holds
# nothing yet; the reservation row is inserted from the moved wallet row. (Attempts of one call are
# sequential, so the call_id check never races with itself; a conflict would fail loudly.)
RESERVE = f"""
WITH wallet AS (
    UPDATE wallets SET reserved = reserved + %(amount)s
    WHERE user_id = %(user_id)s AND {FREE_ENOUGH}
      AND NOT EXISTS (SELECT 1 FROM credit_reservations WHERE call_id = %(call_id)s)
    RETURNING user_id
), held AS (
    INSERT INTO credit_reservations (call_id, user_id, turn_id, step_index, amount, created_at)
    SELECT %(call_id)s, user_id, %(turn_id)s, %(step_index)s, %(amount)s, %(at)s FROM wallet
    RETURNING call_id
)
SELECT EXISTS (SELECT 1 FROM held) AS reserved,
       EXISTS (SELECT 1 FROM credit_reservations WHERE call_id = %(call_id)s) AS held_already
"""
# Under the lock LOCK_CREDITS took (so in a statement of its own, whose snapshot sees every turn
# committed before the lock was granted): the user's running turns, and, when there are fewer than
# `max_running`, the turn's opening hold (TurnStore.allocate).
COUNT_RUNNING = "SELECT count(*) AS running FROM turns WHERE user_id = %(user_id)s AND status = 'running'"
HOLD = f"""
WITH running AS ({COUNT_RUNNING}), held AS (
    INSERT INTO credit_reservations (call_id, user_id, turn_id, step_index, amount, created_at)
    SELECT %(turn_id)s, %(user_id)s, %(turn_id)s, NULL, %(amount)s, %(at)s FROM running
    WHERE running < %(max_running)s
), moved AS (
    UPDATE wallets SET reserved = reserved + %(amount)s
    WHERE user_id = %(user_id)s AND (SELECT running FROM running) < %(max_running)s
)
SELECT running FROM running
"""
# The reservations of turns that are over, or whose process stopped heartbeating, given back. Rows
# another transaction is settling right now are skipped (SKIP LOCKED): that one gives them back.
SWEEP = """
WITH gone AS (
    DELETE FROM credit_reservations WHERE call_id IN (
        SELECT r.call_id FROM credit_reservations r
        WHERE NOT EXISTS (SELECT 1 FROM turns t WHERE t.id = r.turn_id AND t.status = 'running'
                                                  AND t.heartbeat_at >= %(before)s)
        ORDER BY r.call_id FOR UPDATE SKIP LOCKED)
    RETURNING user_id, amount
), per_user AS (
    SELECT user_id, sum(amount) AS amount, count(*) AS n FROM gone GROUP BY user_id
), wallets_moved AS (
    UPDATE wallets w SET reserved = w.reserved - p.amount FROM per_user p WHERE w.user_id = p.user_id
)
SELECT coalesce(sum(n), 0) AS released FROM per_user
"""
# Settling what `scope` says: a step (its reservations and the turn's opening hold), the turn's summary
# call (its reservations, not the hold: the first step's call still counts on it), or every call of a
# turn being recovered; a debit per ledger row with credits, the balance moved by the same amount.
# CTEs of the statement that writes the ledger rows: one transaction (invariants 1 and 8).
SETTLE_CTES = """
released AS (
    DELETE FROM credit_reservations
    WHERE turn_id = %(turn_id)s
      AND CASE %(scope)s
          WHEN 'turn' THEN true
          WHEN 'summary' THEN step_index IS NULL AND call_id <> %(turn_id)s
          ELSE step_index = %(step_index)s::integer OR call_id = %(turn_id)s
      END
    RETURNING amount
), debits AS (
    INSERT INTO credit_transactions (id, user_id, kind, amount, reason, llm_call_event_id, created_at)
    SELECT gen_random_uuid(), d.user_id, 'debit', -d.credits_burned, d.purpose || ' call', d.id, %(at)s
    FROM jsonb_to_recordset(%(ledger)s::jsonb) AS d(id uuid, user_id uuid, credits_burned numeric, purpose text)
    WHERE d.credits_burned > 0
), wallet AS (
    UPDATE wallets SET balance = balance - %(debited)s,
                       reserved = reserved - (SELECT coalesce(sum(amount), 0) FROM released),
                       month_spent = CASE WHEN month = %(month)s THEN month_spent + %(debited)s
                                          WHEN month < %(month)s THEN %(debited)s ELSE month_spent END,
                       month = greatest(month, %(month)s)
    WHERE user_id = (SELECT user_id FROM turns WHERE id = %(turn_id)s)
)"""
SETTLE_TURN = "WITH " + SETTLE_CTES + "\nSELECT 1"


def settle_params(
    turn_id: UUID,
    scope: Literal["step", "summary", "turn"],
    credits_burned: list[Decimal],
    at: datetime,
    step_index: int | None = None,
) -> dict[str, Any]:
    """The SETTLE_CTES parameters besides `ledger` (the rows' JSON, which the statement shares)."""
    return {
        "turn_id": turn_id,
        "scope": scope,
        "step_index": step_index,
        "debited": sum(credits_burned, start=ZERO),
        "month": month_of(at),
        "at": at,
    }


def to_credits(row: dict[str, Any] | None) -> Credits:
    if row is None:  # a user from before wallets could not exist (the migration gave each one)
        return Credits(balance=ZERO, reserved=ZERO, monthly_cap=None, spent_this_month=ZERO)
    return Credits(**row)


class PostgresWalletStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def credits_of(self, user_id: UUID, now: datetime) -> Credits:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_CREDITS, {"user_id": user_id, "month": month_of(now)})
            return to_credits(await cur.fetchone())

    async def transactions_of(
        self, user_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None
    ) -> list[CreditTransaction]:
        params = {
            "user_id": user_id,
            "limit": limit,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_TRANSACTIONS, params)).fetchall()
        return [CreditTransaction(**r) for r in rows]

    async def reserve(self, reservation: Reservation) -> bool:
        params = {
            "call_id": reservation.call_id,
            "user_id": reservation.user_id,
            "turn_id": reservation.turn_id,
            "step_index": reservation.step_index,
            "amount": reservation.amount,
            "at": reservation.at,
            "month": month_of(reservation.at),
        }
        async with self._pool.connection() as conn:
            row = await (await conn.execute(RESERVE, params)).fetchone()
        return bool(row and (row["reserved"] or row["held_already"]))

    async def sweep(self, heartbeat_before: datetime) -> int:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SWEEP, {"before": heartbeat_before})).fetchone()
        return int(row["released"]) if row else 0
