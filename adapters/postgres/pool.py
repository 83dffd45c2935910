"""The one connection pool of a process: configured as LangGraph's checkpointer requires, and safe to
abandon at any await.

Why `connection()` is overridden. A client that hangs up makes Litestar cancel the task serving it
through an anyio cancel scope, and anyio cancellation is level-triggered: every later await inside that
scope raises CancelledError again. psycopg-pool's own `connection()` returns the connection in a
`finally:` that awaits (the pool's lock, handing the connection to a waiting client); when that await
is interrupted, the connection is neither in the pool nor with anyone, for good. Many streams
disconnecting together while others wait for a connection hit exactly this, and drained the pool in
production. Here the checkout and the return run in tasks of their own that the caller's cancellation
cannot interrupt: the caller stops waiting, the connection still goes back.

Two more things happen on the way in and out:
- A connection the server closed while it sat idle (a restart, an outage) is noticed without a round
  trip (its socket has input waiting: the server's goodbye or end-of-file), closed and replaced, and
  the next one is tried, so a database that comes back serves the very next request.
- Failures of the database (no connection in `timeout`, or the connection breaking mid-statement)
  leave as `StoreUnavailable`, which the use cases understand and the HTTP layer answers with 503.
"""

from __future__ import annotations

import asyncio
import logging
import select
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
from psycopg import AsyncConnection, OperationalError
from psycopg.pq import ConnStatus
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from application.errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
_HANGUP = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)

DEFAULT_WAIT_S = 2.0  # longest wait for a free connection before a request is told 503
# Failed reconnection attempts give up after this long; the next request that needs a connection
# starts a new attempt at once, so service resumes as soon as the database is back (the pool's own
# exponential backoff would otherwise wait up to half the outage's length).
RECONNECT_GIVE_UP_S = 2.0
CONNECT_TIMEOUT_S = 3  # libpq's connect_timeout (whole seconds)


async def _configure(conn: AsyncConnection) -> None:
    # json/jsonb columns (roster, history, events) decode with msgspec: same Python values, less CPU.
    set_json_loads(msgspec.json.decode, conn)


_background: set[asyncio.Future[Any]] = set()


def _keep(task: asyncio.Future[Any]) -> None:
    _background.add(task)
    task.add_done_callback(_background.discard)


async def run_to_end(
    work: Coroutine[Any, Any, T], on_abandoned: Callable[[asyncio.Future[T]], None] | None = None
) -> T:
    """Await `work` in a task of its own: cancelling the caller abandons the wait, never the work.

    `on_abandoned` is called with the finished task when the caller stopped waiting for it.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        _keep(task)
        task.add_done_callback(on_abandoned or _forget)
        raise


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("an abandoned database operation failed: %s", type(exc).__name__)


def looks_alive(conn: AsyncConnection) -> bool:
    """True unless the server has already closed this idle connection (checked without a round trip).

    An idle connection of ours has nothing to read (the pool's connections never LISTEN): a readable
    socket holds the server's goodbye (an error before it hung up) and then end-of-file.
    """
    if conn.closed or conn.broken:
        return False
    pgconn = conn.pgconn
    poller = select.poll()  # poll, not select: a busy server has socket numbers past 1024
    try:
        poller.register(pgconn.socket, select.POLLIN | _HANGUP)
        for _ in range(3):
            events = poller.poll(0)
            if not events:
                return pgconn.status == ConnStatus.OK
            if events[0][1] & _HANGUP:
                return False
            pgconn.consume_input()  # a stray message is absorbed; end-of-file raises
    except (OSError, OperationalError):
        return False
    return False


class PantheonPool(AsyncConnectionPool):  # type: ignore[type-arg]
    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[AsyncConnection]:  # noqa: ASYNC109
        """A live connection for one unit of work (see the module docstring); StoreUnavailable when the
        database cannot serve it."""
        conn = await run_to_end(self._checkout(timeout), self._return_abandoned)
        try:
            async with conn:
                yield conn
        except OperationalError as exc:
            detail = f"the database failed mid-statement: {type(exc).__name__}"
            raise StoreUnavailable(detail, maybe_written=True) from exc
        finally:
            await run_to_end(self.putconn(conn))

    async def _checkout(self, wait_s: float | None) -> AsyncConnection:
        deadline = time.monotonic() + (self.timeout if wait_s is None else wait_s)
        while True:
            try:
                conn = await self.getconn(timeout=max(0.0, deadline - time.monotonic()))
            except PoolTimeout as exc:
                raise StoreUnavailable(f"no database connection: {exc}", maybe_written=False) from exc
            if looks_alive(conn):
                return conn
            log.info("replacing a database connection the server closed")
            await conn.close()
            await self.putconn(conn)  # the pool sees it closed and opens a new one

    def _return_abandoned(self, checkout: asyncio.Future[AsyncConnection]) -> None:
        # The caller stopped waiting before the connection reached it: give it straight back.
        if not checkout.cancelled() and checkout.exception() is None:
            _keep(asyncio.ensure_future(self.putconn(checkout.result())))


def make_pool(
    database_url: str, *, min_size: int = 2, max_size: int = 20, wait_s: float = DEFAULT_WAIT_S
) -> PantheonPool:
    # autocommit + dict_row + prepare_threshold=0 is what AsyncPostgresSaver needs; multi-statement
    # units of work are single statements (CTEs) or explicit `conn.transaction()` blocks.
    return PantheonPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        timeout=wait_s,
        reconnect_timeout=RECONNECT_GIVE_UP_S,
        open=False,
        kwargs={
            "autocommit": True,
            "prepare_threshold": 0,
            "row_factory": dict_row,
            "connect_timeout": CONNECT_TIMEOUT_S,
        },
        configure=_configure,
        name="pantheon",
    )
