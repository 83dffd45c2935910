"""Clients hanging up together never cost the service its connections (the outage of the pool leak).

The real app under uvicorn (in this process, so the test can read the pool's own statistics), a pool
much smaller than the crowd following a running turn, and 120 followers cut off at the same instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import API, ISOLATED_ENV
from tests.support.server_process import free_port

FOLLOWERS = 120
POOL = 4


@pytest.fixture(scope="module")
async def served(database_url: str) -> AsyncIterator[tuple[str, Any]]:
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        settings = Settings(database_url=database_url, db_pool_max=POOL, sim_slow_chunk_delay_s=0.1)
        container = Container(settings=settings, database_url=database_url)
        port = free_port()
        config = uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_config=None, loop="none")
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", container
        server.should_exit = True
        await serving


def whole(pool: Any) -> bool:
    stats = pool.get_stats()
    return stats["pool_size"] == stats["pool_available"] and stats.get("requests_waiting", 0) == 0


async def test_a_crowd_of_followers_hanging_up_at_once_leaves_the_pool_whole(served: tuple[str, Any]) -> None:
    url, container = served
    async with httpx.AsyncClient(base_url=url + API, timeout=30) as api:
        key = (await api.post("/users", json={"email": "crowd@example.com"})).json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        room = (await api.post("/rooms", json={"name": "r", "mode": "roundtable"}, headers=auth)).json()
        for name in ("ada", "bob"):
            agent = {"agent_key": name, "name": name, "model": "sim-slow", "role_prompt": "x"}
            assert (await api.post(f"/rooms/{room['id']}/agents", json=agent, headers=auth)).status_code == 201
        session = (await api.post(f"/rooms/{room['id']}/sessions", json={}, headers=auth)).json()["id"]
        turn = asyncio.ensure_future(api.post(f"/sessions/{session}/turns", json={"message": "go"}, headers=auth))
        items: list[dict[str, Any]] = []
        while not items:
            await asyncio.sleep(0.05)
            items = (await api.get(f"/sessions/{session}/turns", headers=auth)).json()["items"]
        events = f"/sessions/{session}/turns/{items[0]['id']}/events"

        reading = asyncio.Semaphore(0)
        limits = httpx.Limits(max_connections=FOLLOWERS + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url + API, timeout=30, limits=limits) as crowd:

            async def follow() -> None:
                async with crowd.stream("GET", events, headers=auth) as response:
                    assert response.status_code == 200
                    reading.release()
                    async for _ in response.aiter_bytes():
                        pass

            followers = [asyncio.ensure_future(follow()) for _ in range(FOLLOWERS)]
            for _ in range(FOLLOWERS):  # everyone is streaming (and polling the database) ...
                await asyncio.wait_for(reading.acquire(), 30)
            await asyncio.sleep(0.5)
            for follower in followers:  # ... and everyone hangs up at the same instant
                follower.cancel()
            await asyncio.gather(*followers, return_exceptions=True)

        pool = container.pool()
        for _ in range(100):
            if whole(pool):
                break
            await asyncio.sleep(0.05)
        assert whole(pool), pool.get_stats()
        assert (await api.get(url + "/healthz")).status_code == 200
        finished = await asyncio.wait_for(turn, 60)  # the turn itself never noticed
        assert finished.status_code == 201 and finished.json()["status"] == "completed"
