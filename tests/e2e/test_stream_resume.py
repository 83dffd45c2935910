"""Streams across real server processes: a follower on one server of a turn run by another, dropped
midway and reconnected with Last-Event-ID (while the turn runs, then after it finished), gets exactly
the stored events, nothing twice and nothing lost; and idle followers cost the database nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.conftest import API
from tests.e2e.test_stream_ends import running_turn
from tests.support.server_process import Server

AGENTS = ("ada", "bob", "cy")


@pytest.fixture(scope="module")
def servers(database_url: str) -> Iterator[tuple[Server, Server]]:
    runner, follower = (Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.05") for _ in range(2))
    try:
        yield runner, follower
    finally:
        runner.stop()
        follower.stop()


async def sse(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Whole events as they arrive (comments skipped), each {"id", "event", "data"}."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if fields:
            yield {"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])}
            fields = {}


def stored_events(database_url: str, turn_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT seq, type, payload FROM turn_events WHERE turn_id = %s ORDER BY seq", (turn_id,)
        ).fetchall()
    return [{"id": seq, "event": kind, "data": payload} for seq, kind, payload in rows]


async def slow_roundtable(api: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    key = (await api.post("/users", json={"email": "resume@example.com"})).json()["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    room = (await api.post("/rooms", json={"name": "r", "mode": "roundtable"}, headers=auth)).json()
    for name in AGENTS:
        agent = {"agent_key": name, "name": name, "model": "sim-slow", "role_prompt": f"You are {name}."}
        assert (await api.post(f"/rooms/{room['id']}/agents", json=agent, headers=auth)).status_code == 201
    session = (await api.post(f"/rooms/{room['id']}/sessions", json={}, headers=auth)).json()["id"]
    return auth, session


async def test_a_follower_dropped_midway_resumes_exactly_after_its_last_event_on_another_server(
    servers: tuple[Server, Server], database_url: str
) -> None:
    runner, other = servers
    async with (
        httpx.AsyncClient(base_url=runner.url + API, timeout=60) as api,
        httpx.AsyncClient(base_url=other.url + API, timeout=60) as follow,
    ):
        auth, session = await slow_roundtable(api)
        post = asyncio.ensure_future(api.post(f"/sessions/{session}/turns", json={"message": "Go."}, headers=auth))
        items: list[dict[str, Any]] = []
        while not items:
            await asyncio.sleep(0.05)
            items = (await follow.get(f"/sessions/{session}/turns", headers=auth)).json()["items"]
        turn_id = items[0]["id"]
        path = f"/sessions/{session}/turns/{turn_id}/events"

        received: list[dict[str, Any]] = []
        async with follow.stream("GET", path, headers=auth) as response:  # 1: from the start
            async for item in sse(response):
                received.append(item)
                if sum(e["event"] == "step_delta" for e in received) == 3:
                    break  # the connection drops here, mid-answer
        assert not post.done()  # the turn runs on

        resumed_at = received[-1]["id"]
        async with follow.stream("GET", path, headers={**auth, "Last-Event-ID": str(resumed_at)}) as response:  # 2
            async for item in sse(response):
                received.append(item)
                if item["event"] == "step_completed" and item["data"]["index"] == 1:
                    break  # dropped again, between two agents
        still_running = not post.done()

        async with follow.stream(  # 3: the rest, until the terminal event closes the stream
            "GET", path, headers={**auth, "Last-Event-ID": str(received[-1]["id"])}
        ) as response:
            received += [item async for item in sse(response)]
        turn = (await post).json()

        # After the turn finished: a reconnect from the middle replays exactly the remainder.
        middle = len(received) // 2
        replayed = await follow.get(path, headers={**auth, "Last-Event-ID": str(received[middle - 1]["id"])})
        after_finish = [item async for item in sse(replayed)]

    stored = stored_events(database_url, turn_id)
    assert still_running
    assert received == stored  # concatenated over three connections: nothing duplicated, nothing lost
    assert [e["id"] for e in received] == list(range(1, len(stored) + 1))
    assert received[-1]["event"] == "turn_completed" and received[-1]["data"]["turn"] == turn
    assert after_finish == stored[middle:]
    assert turn["status"] == "completed" and [s["agent_key"] for s in turn["steps"]] == list(AGENTS)


async def healthz_checkouts(api: httpx.AsyncClient, base: str) -> int:
    return int((await api.get(base + "/healthz")).json()["pool"]["checkouts"])


async def test_idle_followers_of_a_running_turn_cost_the_database_nothing(
    servers: tuple[Server, Server], database_url: str
) -> None:
    _, server = servers
    async with httpx.AsyncClient(base_url=server.url + API, timeout=60) as api:
        key = (await api.post("/users", json={"email": "idle@example.com"})).json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        user_id = (await api.get("/me", headers=auth)).json()["id"]
        # A turn `running` in another process that stays quiet: nothing is stored while they follow.
        session, turn = running_turn(database_url, user_id, died_ago_s=None)
        path = f"/sessions/{session}/turns/{turn}/events"
        opened = asyncio.Semaphore(0)

        async def follow() -> list[dict[str, Any]]:
            async with api.stream("GET", path, headers=auth) as response:
                opened.release()
                return [item async for item in sse(response)]

        followers = [asyncio.ensure_future(follow()) for _ in range(30)]
        for _ in followers:
            await asyncio.wait_for(opened.acquire(), 30)
        await asyncio.sleep(0.5)  # every follower has read its first page and joined the turn's feed
        before = await healthz_checkouts(api, server.url)
        await asyncio.sleep(2.0)
        idle_checkouts = await healthz_checkouts(api, server.url) - before - 1  # that read is one

        with psycopg.connect(database_url, autocommit=True) as conn:  # the turn ends, written elsewhere
            conn.execute(
                "WITH done AS (UPDATE turns SET status = 'failed', completed_at = now() WHERE id = %s)"
                " INSERT INTO turn_events (turn_id, seq, type, payload, created_at) VALUES (%s, 2, 'turn_failed',"
                " jsonb_build_object('turn_id', %s::text, 'seq', 2, 'error', jsonb_build_object('code', 'x',"
                " 'detail', 'y')), now())",
                (turn, turn, turn),
            )
        streams = await asyncio.wait_for(asyncio.gather(*followers), 30)

    # 30 followers polling every 100 ms made ~600 checkouts in 2 s; woken by notices they make none (the
    # feed's safety read, every 5 s, and a supervisor round of the server's own, every 10 s, make a few).
    assert idle_checkouts <= 10
    assert all([e["event"] for e in s] == ["turn_started", "turn_failed"] for s in streams)
