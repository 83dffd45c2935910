"""Stop requests in PostgreSQL: stored on the turn's row by whichever process receives them, read by
the one running the turn."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from adapters.postgres.signals import CHANNEL
from domain.stopping import StopMode
from domain.turns import TurnStatus

# Scoped by the caller in SQL (invariant 5); `now` is never downgraded, the first request's time stays.
# A stored stop sends the turn's notice without a seq ("something else changed", adapters/postgres/
# signals.py): the process running the turn hears it at once; its followers only read again.
REQUEST_STOP = f"""
WITH target AS (
    SELECT t.id, t.status FROM turns t JOIN rooms r ON r.id = t.room_id AND r.deleted_at IS NULL
    WHERE t.id = %(turn_id)s AND t.session_id = %(session_id)s AND t.user_id = %(user_id)s
), stored AS (
    UPDATE turns SET stop_mode = CASE WHEN stop_mode = 'now' THEN 'now' ELSE %(mode)s END,
                     stop_requested_at = coalesce(stop_requested_at, %(at)s)
    WHERE id = (SELECT id FROM target) AND status = 'running'
    RETURNING id
), notice AS (
    SELECT pg_notify('{CHANNEL}', id::text || ':') FROM stored
)
SELECT status, EXISTS (SELECT 1 FROM stored) AS stored, (SELECT count(*) FROM notice) AS notices FROM target
"""
# A turn finished since the read above (it matched no row): its status now.
SELECT_STATUS = "SELECT status FROM turns WHERE id = %(turn_id)s"
SELECT_STOP_REQUESTS = """
SELECT id, stop_mode FROM turns WHERE id = ANY(%(turn_ids)s) AND stop_mode IS NOT NULL AND status = 'running'
"""


class PostgresStopStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def request_stop(
        self, user_id: UUID, session_id: UUID, turn_id: UUID, mode: StopMode, at: datetime
    ) -> TurnStatus | None:
        params = {"user_id": user_id, "session_id": session_id, "turn_id": turn_id, "mode": mode.value, "at": at}
        async with self._pool.connection() as conn:
            row = await (await conn.execute(REQUEST_STOP, params)).fetchone()
            if row is None:
                return None
            if row["stored"]:
                return TurnStatus.RUNNING
            if row["status"] != TurnStatus.RUNNING.value:
                return TurnStatus(row["status"])
            now = await (await conn.execute(SELECT_STATUS, {"turn_id": turn_id})).fetchone()
        return TurnStatus(now["status"]) if now else None

    async def stop_requests(self, turn_ids: list[UUID]) -> dict[UUID, StopMode]:
        if not turn_ids:
            return {}
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_STOP_REQUESTS, {"turn_ids": turn_ids})).fetchall()
        return {r["id"]: StopMode(r["stop_mode"]) for r in rows}
