"""Agents per room are limited, and every list route pages with `limit` and an opaque `cursor`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from adapters.postgres.agents import PostgresAgentStore
from domain.errors import TooManyAgents
from domain.model import Agent
from tests.e2e.conftest import (
    API,
    ISOLATED_ENV,
    add_agent,
    assert_error,
    auth_headers,
    build_client,
    create_room,
    open_session,
)


@pytest.fixture(scope="module")
async def small(database_url: str) -> AsyncIterator[AsyncTestClient]:
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        async with build_client(database_url, max_agents_per_room=3) as test_client:
            yield test_client


async def test_a_room_takes_at_most_the_configured_number_of_agents(small: AsyncTestClient) -> None:
    headers = await auth_headers(small)
    room = await create_room(small, headers)
    for key in ("ada", "bob", "cy"):
        await add_agent(small, headers, room["id"], key)
    response = await small.post(
        f"{API}/rooms/{room['id']}/agents",
        json={"agent_key": "dee", "name": "Dee", "model": "sim", "role_prompt": "x"},
        headers=headers,
    )
    assert assert_error(response, 422, "too_many_agents")["extra"] == {"limit": 3}
    listed = (await small.get(f"{API}/rooms/{room['id']}/agents", headers=headers)).json()["items"]
    assert [a["agent_key"] for a in listed] == ["ada", "bob", "cy"]


async def test_a_roundtable_larger_than_the_limit_is_refused_before_any_call(
    small: AsyncTestClient, database_url: str
) -> None:
    headers = await auth_headers(small)
    room = await create_room(small, headers, mode="roundtable")
    with psycopg.connect(database_url) as conn:  # filled while the limit was higher
        for position in range(5):
            conn.execute(
                "INSERT INTO agents (id, room_id, agent_key, name, model_alias, role_prompt, position, created_at)"
                " VALUES (%s, %s, %s, 'A', 'sim', 'x', %s, now())",
                (uuid.uuid4(), room["id"], f"a{position}", position),
            )
    session = await open_session(small, headers, room["id"])
    response = await small.post(f"{API}/sessions/{session['id']}/turns", json={"message": "all"}, headers=headers)
    assert_error(response, 422, "too_many_agents")
    assert (await small.get(f"{API}/usage/events", headers=headers)).json()["items"] == []
    # Tagging a few of them still works.
    await small.put(f"{API}/rooms/{room['id']}/mode", json={"mode": "manual"}, headers=headers)
    tagged = await small.post(f"{API}/sessions/{session['id']}/turns", json={"message": "@a1 @a4"}, headers=headers)
    assert tagged.status_code == 201


async def test_concurrent_adds_never_pass_the_limit(pool: Any) -> None:
    owner, room = uuid.uuid4(), uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (owner, f"{owner}@example.com"))
        await conn.execute(
            "INSERT INTO rooms (id, owner_id, name, current_mode, created_at, updated_at)"
            " VALUES (%s, %s, 'r', 'manual', now(), now())",
            (room, owner),
        )
    store = PostgresAgentStore(pool)

    async def add(i: int) -> bool:
        agent = Agent(
            id=uuid.uuid4(),
            room_id=room,
            agent_key=f"k{i}",
            name="K",
            model="sim",
            role_prompt="",
            position=i,
            created_at=datetime.now(UTC),
        )
        try:
            await store.add_agent(agent, limit=4)
        except TooManyAgents:
            return False
        return True

    added = await asyncio.gather(*(add(i) for i in range(12)))
    assert sum(added) == 4 and len(await store.agents_of(owner, room)) == 4


async def pages(client: AsyncTestClient, path: str, headers: dict[str, str], limit: int) -> list[list[Any]]:
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = (await client.get(path, params=params, headers=headers)).json()
        found.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_every_list_route_pages_without_gaps_or_repeats(client: AsyncTestClient) -> None:
    headers = await auth_headers(client)
    rooms = [await create_room(client, headers, name=f"room {i}", mode="roundtable") for i in range(5)]
    room = rooms[0]["id"]
    for key in ("ada", "bob"):
        await add_agent(client, headers, room, key)
    sessions = [await open_session(client, headers, room) for _ in range(3)]
    session = sessions[0]["id"]
    for i in range(5):
        await client.post(f"{API}/sessions/{session}/turns", json={"message": f"turn {i}"}, headers=headers)

    room_pages = await pages(client, f"{API}/rooms", headers, 2)
    assert [len(p) for p in room_pages] == [2, 2, 1]
    assert [r["id"] for p in room_pages for r in p] == [r["id"] for r in reversed(rooms)]  # newest first

    session_pages = await pages(client, f"{API}/rooms/{room}/sessions", headers, 2)
    assert [s["id"] for p in session_pages for s in p] == [s["id"] for s in sessions]

    turn_pages = await pages(client, f"{API}/sessions/{session}/turns", headers, 2)
    assert [t["turn_index"] for p in turn_pages for t in p] == [0, 1, 2, 3, 4]

    everything = (await client.get(f"{API}/sessions/{session}/messages", headers=headers)).json()
    assert len(everything["items"]) == 15 and everything["next_cursor"] is None  # 5 × (message + 2 answers)
    for limit in (1, 2, 4, 7):
        message_pages = await pages(client, f"{API}/sessions/{session}/messages", headers, limit)
        assert [m for p in message_pages for m in p] == everything["items"]
        assert all(len(p) == limit for p in message_pages[:-1])


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 501}, {"limit": "many"}, {"cursor": "not-a-cursor"}, {"cursor": "e30"}],
    ids=["zero", "too many", "not a number", "garbage cursor", "cursor of another shape"],
)
@pytest.mark.parametrize(
    "route",
    ["/rooms", "/rooms/{room}/sessions", "/sessions/{session}/turns", "/sessions/{session}/messages", "/usage/events"],
)
async def test_a_bad_limit_or_cursor_is_a_422(client: AsyncTestClient, route: str, query: dict[str, Any]) -> None:
    headers = await auth_headers(client)
    room = await create_room(client, headers)
    session = await open_session(client, headers, room["id"])
    path = API + route.format(room=room["id"], session=session["id"])
    assert_error(await client.get(path, params=query, headers=headers), 422, "validation_error")
