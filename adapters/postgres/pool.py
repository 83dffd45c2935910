"""The one connection pool of a process, configured as LangGraph's checkpointer requires."""

from __future__ import annotations

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


def make_pool(database_url: str, *, min_size: int = 2, max_size: int = 20) -> AsyncConnectionPool:
    # autocommit + dict_row + prepare_threshold=0 is what AsyncPostgresSaver needs; the stores use
    # explicit `conn.transaction()` blocks for every multi-statement unit of work.
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        name="pantheon",
    )
