"""Reading the usage ledger: the caller's rows, keyset-paginated, and grouped totals."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from application.ports.turns import LedgerEntry
from application.ports.usage import GroupBy, UsagePage, UsageTotals

LEDGER_COLUMNS = """id, call_id, user_id, room_id, session_id, turn_id, step_index, agent_key, provider, model_alias,
    provider_model, input_tokens_fresh, input_tokens_cached, output_tokens, total_tokens, oe_tokens, multiplier,
    credits_burned, provider_cost_usd, latency_ms, status, usage_estimated, error_code, pricing_version, request_id,
    created_at, purpose"""
SELECT_EVENTS = f"""
SELECT {LEDGER_COLUMNS} FROM llm_call_events
WHERE user_id = %(user_id)s
  AND (%(turn_id)s::uuid IS NULL OR turn_id = %(turn_id)s)
  AND (%(session_id)s::uuid IS NULL OR session_id = %(session_id)s)
  AND (%(after_at)s::timestamptz IS NULL OR (created_at, id) > (%(after_at)s, %(after_id)s::uuid))
ORDER BY created_at, id
LIMIT %(limit)s
"""
# Group keys are fixed expressions chosen from this table, never text from the request.
GROUP_KEYS = {
    "model": sql.SQL("model_alias"),
    "day": sql.SQL("to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    "room": sql.SQL("coalesce(room_id::text, 'none')"),
}
SUMMARY = sql.SQL("""
SELECT {key} AS key, count(*) AS llm_calls,
       coalesce(sum(input_tokens_fresh + input_tokens_cached), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(credits_burned), 0) AS credits,
       coalesce(sum(provider_cost_usd), 0) AS provider_cost_usd
FROM llm_call_events WHERE user_id = %(user_id)s
GROUP BY 1 ORDER BY 1
""")


class PostgresUsageLedger:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def events(
        self,
        user_id: UUID,
        *,
        turn_id: UUID | None,
        session_id: UUID | None,
        limit: int,
        after: tuple[datetime, UUID] | None,
    ) -> UsagePage:
        params = {
            "user_id": user_id,
            "turn_id": turn_id,
            "session_id": session_id,
            "limit": limit + 1,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_EVENTS, params)).fetchall()
        items = [LedgerEntry(**r) for r in rows[:limit]]
        more = len(rows) > limit
        return UsagePage(items=items, next_after=(items[-1].created_at, items[-1].id) if more else None)

    async def summary(self, user_id: UUID, group_by: GroupBy) -> list[UsageTotals]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SUMMARY.format(key=GROUP_KEYS[group_by]), {"user_id": user_id})
            return [UsageTotals(**r) for r in await cur.fetchall()]
