"""The one connection pool of a process, configured as LangGraph's checkpointer requires."""

from __future__ import annotations

import msgspec
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool


async def _configure(conn: AsyncConnection) -> None:
    # json/jsonb columns (roster, history, events) decode with msgspec: same Python values, less CPU.
    set_json_loads(msgspec.json.decode, conn)


def make_pool(database_url: str, *, min_size: int = 2, max_size: int = 20) -> AsyncConnectionPool:
    # autocommit + dict_row + prepare_threshold=0 is what AsyncPostgresSaver needs; multi-statement
    # units of work are single statements (CTEs) or explicit `conn.transaction()` blocks.
    return AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        configure=_configure,
        name="pantheon",
    )
