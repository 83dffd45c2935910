"""Rooms, their roster and their sessions over HTTP, from creation to soft delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session

ROOM_FIELDS = {"id", "name", "goal", "current_mode", "pending_mode", "manager_model", "created_at", "updated_at"}
ROOM_FIELDS |= {"max_credits_per_turn", "max_agent_calls_per_turn", "max_turn_seconds"}  # caps per turn
AGENT_FIELDS = {"id", "agent_key", "name", "model", "role_prompt", "position", "created_at"}
SESSION_FIELDS = {"id", "room_id", "created_at", "turn_count"}


@pytest.fixture
async def owner(client: AsyncTestClient) -> dict[str, str]:
    """A fresh user per test, so listings hold exactly what the test made."""
    return await auth_headers(client, "owner")


def aware(timestamp: str) -> datetime:
    parsed = datetime.fromisoformat(timestamp)
    assert parsed.utcoffset() is not None, timestamp
    return parsed


# Rooms -----------------------------------------------------------------------------------------------


async def test_a_new_room_is_manual_with_nothing_pending(client: AsyncTestClient, owner: dict[str, str]) -> None:
    response = await client.post(f"{API}/rooms", json={"name": "Council"}, headers=owner)

    assert response.status_code == 201
    room = response.json()
    assert set(room) == ROOM_FIELDS
    assert (room["name"], room["goal"], room["current_mode"], room["pending_mode"], room["manager_model"]) == (
        "Council",
        None,
        "manual",
        None,
        None,
    )
    assert aware(room["created_at"]) == aware(room["updated_at"])


async def test_a_room_can_start_in_any_mode_with_a_manager_model(
    client: AsyncTestClient, owner: dict[str, str]
) -> None:
    room = await create_room(client, owner, goal="Ship it", mode="orchestrator", manager_model="deepseek")

    fetched = (await client.get(f"{API}/rooms/{room['id']}", headers=owner)).json()
    assert fetched == room
    assert (fetched["goal"], fetched["current_mode"], fetched["manager_model"]) == (
        "Ship it",
        "orchestrator",
        "deepseek",
    )


async def test_an_unknown_manager_model_is_refused(client: AsyncTestClient, owner: dict[str, str]) -> None:
    response = await client.post(f"{API}/rooms", json={"name": "x", "manager_model": "gpt-9000"}, headers=owner)

    assert_error(response, 422, "unknown_model")
    assert (await client.get(f"{API}/rooms", headers=owner)).json() == {"items": [], "next_cursor": None}


async def test_rooms_are_listed_newest_first(client: AsyncTestClient, owner: dict[str, str]) -> None:
    made = [await create_room(client, owner, name=f"room {i}") for i in range(3)]

    listed = (await client.get(f"{API}/rooms", headers=owner)).json()["items"]

    assert [r["name"] for r in listed] == ["room 2", "room 1", "room 0"]
    assert listed == made[::-1]


async def test_patch_changes_only_what_it_names(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner, name="Old", goal="Keep me", manager_model="deepseek")

    renamed = await client.patch(f"{API}/rooms/{room['id']}", json={"name": "New"}, headers=owner)
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["goal"], renamed.json()["manager_model"]) == (
        "New",
        "Keep me",
        "deepseek",
    )
    assert aware(renamed.json()["updated_at"]) > aware(room["updated_at"])

    cleared = await client.patch(f"{API}/rooms/{room['id']}", json={"goal": None, "manager_model": None}, headers=owner)
    assert (cleared.json()["name"], cleared.json()["goal"], cleared.json()["manager_model"]) == ("New", None, None)
    assert (await client.get(f"{API}/rooms/{room['id']}", headers=owner)).json() == cleared.json()


async def test_patch_refuses_an_unknown_manager_model(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)

    response = await client.patch(f"{API}/rooms/{room['id']}", json={"manager_model": "gpt-9000"}, headers=owner)

    assert_error(response, 422, "unknown_model")
    assert (await client.get(f"{API}/rooms/{room['id']}", headers=owner)).json() == room


async def test_put_mode_sets_only_the_pending_mode(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)
    url = f"{API}/rooms/{room['id']}/mode"

    changed = await client.put(url, json={"mode": "roundtable"}, headers=owner)
    assert changed.status_code == 200
    assert (changed.json()["current_mode"], changed.json()["pending_mode"]) == ("manual", "roundtable")
    stored = (await client.get(f"{API}/rooms/{room['id']}", headers=owner)).json()
    assert (stored["current_mode"], stored["pending_mode"]) == ("manual", "roundtable")

    back = await client.put(url, json={"mode": "manual"}, headers=owner)
    assert (back.json()["current_mode"], back.json()["pending_mode"]) == ("manual", None)


def routes_of(room_id: str, agent_id: str, session_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"/rooms/{room_id}", None),
        ("PATCH", f"/rooms/{room_id}", {"name": "again"}),
        ("PUT", f"/rooms/{room_id}/mode", {"mode": "roundtable"}),
        ("DELETE", f"/rooms/{room_id}", None),
        ("GET", f"/rooms/{room_id}/agents", None),
        ("POST", f"/rooms/{room_id}/agents", {"agent_key": "late", "name": "Late", "model": "sim", "role_prompt": "x"}),
        ("PATCH", f"/rooms/{room_id}/agents/{agent_id}", {"name": "again"}),
        ("DELETE", f"/rooms/{room_id}/agents/{agent_id}", None),
        ("GET", f"/rooms/{room_id}/sessions", None),
        ("POST", f"/rooms/{room_id}/sessions", {}),
        ("GET", f"/sessions/{session_id}", None),
        ("GET", f"/sessions/{session_id}/messages", None),
    ]


async def test_a_deleted_room_answers_404_on_every_route(client: AsyncTestClient, owner: dict[str, str]) -> None:
    kept, doomed = await create_room(client, owner, name="kept"), await create_room(client, owner, name="doomed")
    agent = await add_agent(client, owner, doomed["id"], "critic")
    session = await open_session(client, owner, doomed["id"])

    deleted = await client.delete(f"{API}/rooms/{doomed['id']}", headers=owner)
    assert deleted.status_code == 204
    assert deleted.content == b""

    for method, path, body in routes_of(doomed["id"], agent["id"], session["id"]):
        response = await client.request(method, API + path, json=body, headers=owner)
        assert_error(response, 404, "not_found")
    assert (await client.get(f"{API}/rooms", headers=owner)).json() == {"items": [kept], "next_cursor": None}


# Agents ----------------------------------------------------------------------------------------------


async def test_agents_are_added_after_the_last_and_listed_by_position(
    client: AsyncTestClient, owner: dict[str, str]
) -> None:
    room = await create_room(client, owner)
    url = f"{API}/rooms/{room['id']}/agents"

    first = await client.post(
        url,
        json={"agent_key": "alpha", "name": "Alpha", "model": "sim", "role_prompt": "You are Alpha."},
        headers=owner,
    )
    assert first.status_code == 201
    assert set(first.json()) == AGENT_FIELDS
    assert (
        first.json()["agent_key"],
        first.json()["name"],
        first.json()["model"],
        first.json()["role_prompt"],
        first.json()["position"],
    ) == ("alpha", "Alpha", "sim", "You are Alpha.", 0)
    await add_agent(client, owner, room["id"], "beta", position=10)
    gamma = await add_agent(client, owner, room["id"], "gamma")
    await add_agent(client, owner, room["id"], "aaron", position=10)
    await add_agent(client, owner, room["id"], "zero", position=0)

    assert gamma["position"] == 11
    listed = (await client.get(url, headers=owner)).json()["items"]
    assert [(a["agent_key"], a["position"]) for a in listed] == [
        ("alpha", 0),
        ("zero", 0),
        ("aaron", 10),
        ("beta", 10),
        ("gamma", 11),
    ]


async def test_an_agent_key_is_unique_within_its_room(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room, other_room = await create_room(client, owner), await create_room(client, owner)
    await add_agent(client, owner, room["id"], "critic")
    body = {"agent_key": "critic", "name": "Twin", "model": "sim", "role_prompt": "x"}

    assert_error(
        await client.post(f"{API}/rooms/{room['id']}/agents", json=body, headers=owner), 409, "agent_key_taken"
    )
    assert (await client.post(f"{API}/rooms/{other_room['id']}/agents", json=body, headers=owner)).status_code == 201
    listed = (await client.get(f"{API}/rooms/{room['id']}/agents", headers=owner)).json()["items"]
    assert [a["name"] for a in listed] == ["Critic"]


async def test_an_agent_with_an_unknown_model_is_refused(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)
    body = {"agent_key": "critic", "name": "Critic", "model": "gpt-9000", "role_prompt": "x"}

    assert_error(await client.post(f"{API}/rooms/{room['id']}/agents", json=body, headers=owner), 422, "unknown_model")
    assert (await client.get(f"{API}/rooms/{room['id']}/agents", headers=owner)).json() == {"items": []}


async def test_patch_agent_edits_and_reorders_the_roster(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)
    first = await add_agent(client, owner, room["id"], "first")
    await add_agent(client, owner, room["id"], "second")
    url = f"{API}/rooms/{room['id']}/agents/{first['id']}"

    patched = await client.patch(url, json={"name": "Now last", "model": "deepseek", "position": 5}, headers=owner)

    assert patched.status_code == 200
    assert {k: patched.json()[k] for k in ("agent_key", "name", "model", "role_prompt", "position")} == {
        "agent_key": "first",
        "name": "Now last",
        "model": "deepseek",
        "role_prompt": "You are first.",
        "position": 5,
    }
    listed = (await client.get(f"{API}/rooms/{room['id']}/agents", headers=owner)).json()["items"]
    assert [a["agent_key"] for a in listed] == ["second", "first"]
    assert_error(await client.patch(url, json={"model": "gpt-9000"}, headers=owner), 422, "unknown_model")


async def test_a_removed_agent_leaves_the_roster(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)
    gone = await add_agent(client, owner, room["id"], "gone")
    kept = await add_agent(client, owner, room["id"], "kept")
    url = f"{API}/rooms/{room['id']}/agents/{gone['id']}"

    removed = await client.delete(url, headers=owner)

    assert removed.status_code == 204
    assert (await client.get(f"{API}/rooms/{room['id']}/agents", headers=owner)).json() == {"items": [kept]}
    assert_error(await client.delete(url, headers=owner), 404, "not_found")
    assert_error(await client.patch(url, json={"name": "back"}, headers=owner), 404, "not_found")


# Sessions --------------------------------------------------------------------------------------------


async def test_sessions_are_opened_listed_and_read(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)

    response = await client.post(f"{API}/rooms/{room['id']}/sessions", json={}, headers=owner)

    assert response.status_code == 201
    session = response.json()
    assert set(session) == SESSION_FIELDS
    assert (session["room_id"], session["turn_count"]) == (room["id"], 0)
    aware(session["created_at"])
    second = await open_session(client, owner, room["id"])
    listed = (await client.get(f"{API}/rooms/{room['id']}/sessions", headers=owner)).json()
    assert listed == {"items": [session, second], "next_cursor": None}
    assert (await client.get(f"{API}/sessions/{session['id']}", headers=owner)).json() == session


async def test_a_new_session_has_no_messages(client: AsyncTestClient, owner: dict[str, str]) -> None:
    session = await open_session(client, owner, (await create_room(client, owner))["id"])

    response = await client.get(f"{API}/sessions/{session['id']}/messages", headers=owner)

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_a_session_can_be_opened_without_a_body(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner)

    response = await client.post(f"{API}/rooms/{room['id']}/sessions", headers=owner)

    assert response.status_code == 201
    assert response.json()["room_id"] == room["id"]
