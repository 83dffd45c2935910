"""Sections 8 and 9: what idle followers of a running turn cost, and how fast service returns after a
database outage."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.http_turns import API, Api
from bench.infra import log, process_cpu_s


@dataclass
class Followers:
    followers: int
    seconds: float
    checkouts_per_s: dict[int, float] = field(default_factory=dict)  # by number of followers (0 and N)
    cpu_share: dict[int, float] = field(default_factory=dict)


@dataclass
class Recovery:
    outage_s: float
    refused_ms: float  # how long a request took to be told 503 during the outage
    first_turn_ms: float  # from the database accepting connections again to the first 201 turn


async def _checkouts(api: Api) -> int:
    """Pool checkouts the server has made so far (its /healthz says; that read is one of them)."""
    return int((await api.client.get("/healthz")).json()["pool"]["checkouts"])


async def _window(api: Api, server_pid: int | None, seconds: float) -> tuple[float, float]:
    """(pool checkouts per second, share of a core the server used) over `seconds`."""
    checkouts, cpu, started = await _checkouts(api), process_cpu_s(server_pid), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    checkouts_after, cpu_after = await _checkouts(api), process_cpu_s(server_pid)
    share = (cpu_after - cpu) / elapsed if cpu is not None and cpu_after is not None else float("nan")
    return (checkouts_after - checkouts - 1) / elapsed, share


async def slow_room(api: Api, agents: int) -> str:
    room_id = (
        await api.client.post(f"{API}/rooms", json={"name": "slow", "mode": "roundtable"}, headers=api.headers)
    ).json()["id"]
    for i in range(agents):
        body = {"agent_key": f"s{i}", "name": f"Slow {i}", "model": "sim-slow", "role_prompt": "Take your time."}
        await api.client.post(f"{API}/rooms/{room_id}/agents", json=body, headers=api.headers)
    return room_id


async def followers(api: Api, base: str, server_pid: int | None, count: int, seconds: float) -> Followers:
    """Idle followers of one running `sim-slow` turn, against the same turn with nobody following."""
    room_id = await slow_room(api, 8)
    session = (await api.client.post(f"{API}/rooms/{room_id}/sessions", json={}, headers=api.headers)).json()["id"]
    turn = asyncio.ensure_future(
        api.client.post(
            f"{API}/sessions/{session}/turns", json={"message": "Think slowly."}, headers=api.headers, timeout=600
        )
    )
    items: list[dict[str, Any]] = []
    while not items:
        await asyncio.sleep(0.05)
        items = (await api.client.get(f"{API}/sessions/{session}/turns", headers=api.headers)).json()["items"]
    result = Followers(followers=count, seconds=seconds)
    result.checkouts_per_s[0], result.cpu_share[0] = await _window(api, server_pid, seconds)
    path = f"{base}{API}/sessions/{session}/turns/{items[0]['id']}/events"
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=600, limits=limits) as crowd:
        connected = asyncio.Semaphore(0)

        async def follow() -> None:
            async with crowd.stream("GET", path, headers=api.headers) as response:
                connected.release()
                async for _ in response.aiter_bytes():
                    pass

        tasks = [asyncio.ensure_future(follow()) for _ in range(count)]
        for _ in range(count):
            await asyncio.wait_for(connected.acquire(), 60)
        result.checkouts_per_s[count], result.cpu_share[count] = await _window(api, server_pid, seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    turn.cancel()
    return result


async def recovery(api: Api, postgres: Any, outage_s: float) -> Recovery:
    """Stop the database (`pg_ctl -m fast`) for `outage_s`, start it, and time the first turn that succeeds."""
    room_id = await api.room("manual", 1)
    [session] = await api.sessions(room_id, 1)
    assert (await api.turn(session, "@a0 warm up"))[1]
    postgres.stop("fast")
    try:
        started = time.perf_counter()
        refused = await api.client.get(f"{API}/rooms", headers=api.headers)
        refused_ms = (time.perf_counter() - started) * 1000
        if refused.status_code != 503:
            log(f"during the outage GET /rooms answered {refused.status_code}")
        await asyncio.sleep(max(0.0, outage_s - refused_ms / 1000))
    finally:
        postgres.start()
    back = time.perf_counter()
    errors = len(api.errors)
    for _ in range(1200):  # a minute at most
        if (await api.turn(session, "@a0 are you there?"))[1]:
            break
        await asyncio.sleep(0.05)
    del api.errors[errors:]  # the refusals while it came back are the point, not errors of the run
    return Recovery(outage_s=outage_s, refused_ms=refused_ms, first_turn_ms=(time.perf_counter() - back) * 1000)


def stoppable(data_dir: Path) -> Any:
    from tests.support.stoppable_postgres import StoppablePostgres  # the bench's own embedded server

    return StoppablePostgres(data_dir)
