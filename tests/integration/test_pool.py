"""The process pool never loses a connection to cancellation, replaces connections the server closed,
and says StoreUnavailable (promptly) when it cannot serve."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import anyio
import psycopg
import pytest

from adapters.postgres.health import DatabaseHealth
from adapters.postgres.pool import PantheonPool, make_pool
from application.errors import StoreUnavailable


@pytest.fixture
async def small_pool(database_url: str) -> AsyncIterator[PantheonPool]:
    pool = make_pool(database_url, min_size=1, max_size=2, wait_s=1.0)
    await pool.open(wait=True)
    yield pool
    await pool.close()


def whole(pool: PantheonPool) -> bool:
    stats = pool.get_stats()
    return stats["pool_size"] == stats["pool_available"] and stats.get("requests_waiting", 0) == 0


async def settle(pool: PantheonPool) -> None:
    for _ in range(50):
        if whole(pool):
            return
        await asyncio.sleep(0.02)


async def test_a_unit_cancelled_while_its_connection_goes_back_still_returns_it(small_pool: PantheonPool) -> None:
    # The outage of production, reduced to its mechanism: a client hangs up (Litestar cancels its task
    # through an anyio scope, which re-raises at every later await) at the moment its connection is
    # being returned while another return holds the pool's lock. psycopg-pool's own connection() loses
    # the connection for good there; PantheonPool's return runs in a task the cancellation cannot reach.
    queried = asyncio.Event()

    async def unit() -> None:
        async with small_pool.connection() as conn:
            await conn.execute("SELECT 1")
            queried.set()
            await asyncio.sleep(0.05)

    async with anyio.create_task_group() as group:
        group.start_soon(unit)
        await queried.wait()
        async with small_pool._lock:  # another connection is being returned right now
            await asyncio.sleep(0.1)  # the unit is in its return path, waiting for the lock
            group.cancel_scope.cancel()
            await asyncio.sleep(0.05)
    await settle(small_pool)
    assert whole(small_pool), small_pool.get_stats()


async def test_many_units_cancelled_at_random_points_leave_the_pool_whole(small_pool: PantheonPool) -> None:
    async def worker() -> None:
        while True:
            async with small_pool.connection() as conn:
                await conn.execute("SELECT 1")
            await anyio.sleep(0)

    for delay in (0.0, 0.003, 0.01, 0.03, 0.07):
        async with anyio.create_task_group() as group:  # 40 clients for 2 connections: a queue forms
            for _ in range(40):
                group.start_soon(worker)
            await anyio.sleep(delay)
            group.cancel_scope.cancel()
        await settle(small_pool)
        assert whole(small_pool), (delay, small_pool.get_stats())
    async with small_pool.connection() as a, small_pool.connection() as b:  # both connections serve again
        assert (await (await a.execute("SELECT 1 AS one")).fetchone())["one"] == 1
        assert (await (await b.execute("SELECT 1 AS one")).fetchone())["one"] == 1


async def test_connections_the_server_closed_are_replaced_before_anyone_uses_them(
    small_pool: PantheonPool, database_url: str
) -> None:
    async with small_pool.connection() as a, small_pool.connection() as b:
        pids = [a.info.backend_pid, b.info.backend_pid]
    # What a restart of PostgreSQL does to idle connections.
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
    await asyncio.sleep(0.2)
    for _ in range(3):  # no request sees the dead connections
        async with small_pool.connection() as conn:
            assert (await (await conn.execute("SELECT 1 AS one")).fetchone())["one"] == 1
            assert conn.info.backend_pid not in pids


async def test_no_free_connection_is_store_unavailable_within_the_wait(small_pool: PantheonPool) -> None:
    async with small_pool.connection(), small_pool.connection():
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as raised:
            async with small_pool.connection():
                pass
        assert raised.value.maybe_written is False  # nothing was sent
        assert 0.9 <= time.monotonic() - started < 3.0  # the 1 s wait, not the old 30 s


async def test_a_connection_that_breaks_mid_statement_is_store_unavailable_that_may_have_written(
    small_pool: PantheonPool, database_url: str
) -> None:
    with pytest.raises(StoreUnavailable) as raised:
        async with small_pool.connection() as conn:
            pid = conn.info.backend_pid
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await conn.execute("SELECT 1")
    assert raised.value.maybe_written is True
    await settle(small_pool)
    async with small_pool.connection() as conn:  # replaced
        assert conn.info.backend_pid != pid


async def test_the_watchdog_reports_a_pool_that_stays_exhausted(
    small_pool: PantheonPool, caplog: pytest.LogCaptureFixture
) -> None:
    health = DatabaseHealth(small_pool, probe_wait_s=0.2, alarm_after_s=0.3, sample_every_s=0.05)
    watching = asyncio.ensure_future(health.watch())
    try:
        await health.check()  # healthy
        async with small_pool.connection(), small_pool.connection():
            waiting = asyncio.ensure_future(small_pool.getconn(timeout=5))  # a request queues for a connection
            await asyncio.sleep(0.5)
            with pytest.raises(StoreUnavailable, match="busy"):
                await health.check()  # answered at once, without queueing behind the others
            alarms = [r for r in caplog.records if r.levelname == "ERROR" and "exhausted" in r.getMessage()]
            assert len(alarms) == 1 and alarms[0].fields["requests_waiting"] == 1
        await small_pool.putconn(await waiting)
        await asyncio.sleep(0.2)
        await health.check()  # serving again
    finally:
        watching.cancel()
