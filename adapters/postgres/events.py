"""Turn events in PostgreSQL, readable by any server process (docs/http-api.md: replay with Last-Event-ID)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from psycopg_pool import AsyncConnectionPool

from application.ports.events import EventPage, TurnEvent

_json = msgspec.json.Encoder()

# A write that failed mid-statement may have landed; the turn then writes the very same events again
# (they stay frozen, see EventLog.take), so a row already there is skipped rather than refused.
INSERT_EVENTS = """
INSERT INTO turn_events (turn_id, seq, type, payload, created_at)
SELECT %(turn_id)s::uuid, e.seq, e.type, e.data, %(at)s
FROM jsonb_to_recordset(%(events)s::jsonb) AS e(seq integer, type text, data jsonb)
ON CONFLICT (turn_id, seq) DO NOTHING
"""
NEXT_SEQ = "SELECT coalesce(max(seq), 0) + 1 AS seq FROM turn_events WHERE turn_id = %(turn_id)s"
SELECT_EVENTS = """
SELECT t.status = 'running' AS running, e.seq, e.type, e.payload
FROM (SELECT t.id, t.status FROM turns t JOIN rooms r ON r.id = t.room_id AND r.deleted_at IS NULL
      WHERE t.id = %(turn_id)s AND t.user_id = %(user_id)s) t
LEFT JOIN LATERAL (
    SELECT seq, type, payload FROM turn_events
    WHERE turn_id = t.id AND seq > %(after)s ORDER BY seq LIMIT %(limit)s
) e ON true
"""


def events_json(events: list[TurnEvent]) -> str:
    return _json.encode([{"seq": e.seq, "type": e.type, "data": e.data} for e in events]).decode()


class PostgresTurnEventStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def append_events(self, turn_id: UUID, events: list[TurnEvent], at: datetime) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(INSERT_EVENTS, {"turn_id": turn_id, "events": events_json(events), "at": at})

    async def next_seq(self, turn_id: UUID) -> int:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(NEXT_SEQ, {"turn_id": turn_id})).fetchone()
        return int(row["seq"])

    async def events_after(self, user_id: UUID, turn_id: UUID, after_seq: int, limit: int) -> EventPage | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                SELECT_EVENTS, {"user_id": user_id, "turn_id": turn_id, "after": after_seq, "limit": limit}
            )
            rows = await cur.fetchall()
        if not rows:
            return None
        events = [TurnEvent(seq=r["seq"], type=r["type"], data=r["payload"]) for r in rows if r["seq"] is not None]
        return EventPage(events=events, running=rows[0]["running"])
