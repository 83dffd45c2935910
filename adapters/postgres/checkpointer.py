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
