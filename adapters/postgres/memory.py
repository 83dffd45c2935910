"""Session memory in PostgreSQL: summaries and the per-call context audit (written by the step recorder)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from application.ports.turns import ContextAudit
from domain.memory import Summary

SUMMARY_COLUMNS = """ss.id, ss.session_id, ss.through_turn_index, ss.summary_text, ss.key_facts, ss.decisions,
       ss.open_questions, ss.action_items, ss.created_at, ss.turn_id, ss.turn_index"""
SELECT_LATEST_SUMMARY = f"""
SELECT {SUMMARY_COLUMNS} FROM session_summaries ss
WHERE ss.session_id = %(session_id)s
ORDER BY ss.through_turn_index DESC, ss.created_at DESC LIMIT 1
"""
SELECT_SUMMARY_OF_USER = f"""
SELECT {SUMMARY_COLUMNS} FROM session_summaries ss
JOIN sessions s ON s.id = ss.session_id JOIN rooms r ON r.id = s.room_id AND r.deleted_at IS NULL
WHERE ss.session_id = %(session_id)s AND s.user_id = %(user_id)s
ORDER BY ss.through_turn_index DESC, ss.created_at DESC LIMIT 1
"""
# The turn is looked up first (scoped by its user and session) so that a turn with no audit rows and
# a turn that is not the caller's answer differently.
SELECT_TURN_CONTEXT = """
SELECT t.id AS turn_id, a.call_id, a.step_index, a.model, a.context_window, a.input_budget,
       a.estimated_tokens_before, a.estimated_tokens_after, a.history_turns, a.actions, a.created_at
FROM turns t JOIN rooms r ON r.id = t.room_id AND r.deleted_at IS NULL
LEFT JOIN turn_context_audit a ON a.turn_id = t.id
WHERE t.id = %(turn_id)s AND t.session_id = %(session_id)s AND t.user_id = %(user_id)s
ORDER BY a.created_at, a.step_index NULLS FIRST, a.call_id
"""


def to_summary(row: dict[str, Any]) -> Summary:
    return msgspec.convert(row, Summary)


class PostgresSummaryStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def latest_summary(self, session_id: UUID) -> Summary | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_LATEST_SUMMARY, {"session_id": session_id})).fetchone()
        return to_summary(row) if row else None

    async def summary_of(self, user_id: UUID, session_id: UUID) -> Summary | None:
        params = {"session_id": session_id, "user_id": user_id}
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_SUMMARY_OF_USER, params)).fetchone()
        return to_summary(row) if row else None

    async def context_of(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> list[ContextAudit] | None:
        params = {"turn_id": turn_id, "session_id": session_id, "user_id": user_id}
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_TURN_CONTEXT, params)).fetchall()
        if not rows:
            return None
        return [msgspec.convert(r, ContextAudit) for r in rows if r["call_id"] is not None]
