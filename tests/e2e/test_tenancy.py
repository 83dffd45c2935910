"""Another user's room, agent or session answers exactly like one that does not exist (invariant 5)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session


@pytest.fixture(scope="module")
async def alice(client: AsyncTestClient) -> dict[str, str]:
    return await auth_headers(client, "alice")


@pytest.fixture(scope="module")
async def bob(client: AsyncTestClient) -> dict[str, str]:
    return await auth_headers(client, "bob")


@pytest.fixture(scope="module")
async def alices(client: AsyncTestClient, alice: dict[str, str]) -> dict[str, str]:
    room = await create_room(client, alice, name="Alice's", goal="Private")
    agent = await add_agent(client, alice, room["id"], "confidant")
    session = await open_session(client, alice, room["id"])
    return {"room": room["id"], "agent": agent["id"], "session": session["id"]}


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/rooms/{room}", None),
    ("PATCH", "/rooms/{room}", {"name": "Taken over"}),
    ("PUT", "/rooms/{room}/mode", {"mode": "orchestrator"}),
    ("DELETE", "/rooms/{room}", None),
    ("GET", "/rooms/{room}/agents", None),
    ("POST", "/rooms/{room}/agents", {"agent_key": "spy", "name": "Spy", "model": "sim", "role_prompt": "x"}),
    ("PATCH", "/rooms/{room}/agents/{agent}", {"name": "Turned"}),
    ("DELETE", "/rooms/{room}/agents/{agent}", None),
    ("GET", "/rooms/{room}/sessions", None),
    ("POST", "/rooms/{room}/sessions", {}),
    ("GET", "/sessions/{session}", None),
    ("GET", "/sessions/{session}/messages", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_another_users_resource_answers_like_a_missing_one(
    client: AsyncTestClient, bob: dict[str, str], alices: dict[str, str], method: str, path: str, body: Any
) -> None:
    randoms = {name: str(uuid.uuid4()) for name in alices}

    as_bob = await client.request(method, API + path.format(**alices), json=body, headers=bob)
    missing = await client.request(method, API + path.format(**randoms), json=body, headers=bob)

    assert_error(as_bob, 404, "not_found")
    assert as_bob.json() == missing.json()


async def test_alices_things_are_untouched_and_unseen(
    client: AsyncTestClient, alice: dict[str, str], bob: dict[str, str], alices: dict[str, str]
) -> None:
    room = (await client.get(f"{API}/rooms/{alices['room']}", headers=alice)).json()
    agents = (await client.get(f"{API}/rooms/{alices['room']}/agents", headers=alice)).json()["items"]
    sessions = (await client.get(f"{API}/rooms/{alices['room']}/sessions", headers=alice)).json()["items"]

    assert (room["name"], room["current_mode"], room["pending_mode"]) == ("Alice's", "manual", None)
    assert [(a["id"], a["name"]) for a in agents] == [(alices["agent"], "Confidant")]
    assert [s["id"] for s in sessions] == [alices["session"]]
    assert (await client.get(f"{API}/rooms", headers=bob)).json() == {"items": [], "next_cursor": None}
