"""LangGraph's PostgreSQL checkpointer on the process pool; refuses to start without its tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg_pool import AsyncConnectionPool

CHECK_TABLES = "SELECT to_regclass('checkpoints') IS NOT NULL AND to_regclass('checkpoint_writes') IS NOT NULL AS ok"


class CheckpointerUnavailable(RuntimeError):
    pass


async def open_checkpointer(pool: AsyncConnectionPool) -> AsyncIterator[AsyncPostgresSaver]:
    # No fallback to an in-memory saver: a turn that cannot be checkpointed cannot be resumed.
    try:
        async with pool.connection() as conn:
            row = await (await conn.execute(CHECK_TABLES)).fetchone()
    except Exception as exc:
        raise CheckpointerUnavailable(f"The LangGraph checkpointer cannot reach PostgreSQL: {exc}") from exc
    if not row or not row["ok"]:
        raise CheckpointerUnavailable(
            "LangGraph's checkpoint tables are missing: run `pantheon migrate` (the server does it at start)."
        )
    yield AsyncPostgresSaver(conn=pool)


# Checkpoints of threads whose turn is over are dead weight (our tables hold the turn). Only threads
# named by a turn id are considered, so other users of the same tables are left alone.
PRUNE_FINISHED_THREADS = """
WITH threads AS MATERIALIZED (
    SELECT DISTINCT thread_id FROM checkpoints
    WHERE thread_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
), finished AS MATERIALIZED (
    SELECT th.thread_id FROM threads th JOIN turns t ON t.id = th.thread_id::uuid WHERE t.status <> 'running'
), writes AS (
    DELETE FROM checkpoint_writes w USING finished f WHERE w.thread_id = f.thread_id
), blobs AS (
    DELETE FROM checkpoint_blobs b USING finished f WHERE b.thread_id = f.thread_id
)
DELETE FROM checkpoints c USING finished f WHERE c.thread_id = f.thread_id
"""


async def prune_finished_threads(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(PRUNE_FINISHED_THREADS)
        return cur.rowcount
