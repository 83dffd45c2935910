"""Odd text through every route that takes text: NUL and lone surrogates are refused naming the field,
patterns match whole, wrong JSON types are refused rather than coerced, and unusual but real text
(emoji, other scripts, newlines in free text) is stored and returned intact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session, unique_email

NOT_TEXT = {
    "nul": "\u0000",
    "nul inside": "ab\u0000cd",
    "lone high surrogate": "ab\ud800",
    "lone low surrogate": "\udfffab",
}
AGENT = {"agent_key": "critic", "name": "Critic", "model": "sim", "role_prompt": "Be critical."}

# (route, method, path, a valid body, the text fields of that body)
TEXT_FIELDS: list[tuple[str, str, str, dict[str, Any], list[str]]] = [
    ("sign-up", "POST", "/users", {"email": "odd@example.com", "display_name": "Odd"}, ["email", "display_name"]),
    (
        "new room",
        "POST",
        "/rooms",
        {"name": "r", "goal": "g", "manager_model": "sim"},
        ["name", "goal", "manager_model"],
    ),
    ("edit room", "PATCH", "/rooms/{room}", {"name": "r", "goal": "g"}, ["name", "goal", "manager_model"]),
    ("mode", "PUT", "/rooms/{room}/mode", {"mode": "manual"}, ["mode"]),
    ("new agent", "POST", "/rooms/{room}/agents", AGENT, ["agent_key", "name", "model", "role_prompt"]),
    ("edit agent", "PATCH", "/rooms/{room}/agents/{agent}", {"name": "n"}, ["name", "model", "role_prompt"]),
    ("message", "POST", "/sessions/{session}/turns", {"message": "@target hi"}, ["message"]),
]
CASES = [
    pytest.param(method, path, {**body, field: odd}, field, id=f"{route}.{field}: {label}")
    for route, method, path, body, fields in TEXT_FIELDS
    for field in fields
    for label, odd in NOT_TEXT.items()
]


@pytest.fixture(scope="module")
async def owner(client: AsyncTestClient) -> dict[str, str]:
    return await auth_headers(client, "odd")


@pytest.fixture(scope="module")
async def ids(client: AsyncTestClient, owner: dict[str, str]) -> dict[str, str]:
    room = await create_room(client, owner, name="Odd")
    agent = await add_agent(client, owner, room["id"], "target")
    session = await open_session(client, owner, room["id"])
    return {"room": room["id"], "agent": agent["id"], "session": session["id"]}


async def send(client: AsyncTestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    raw = json.dumps(body).encode()  # json.dumps writes lone surrogates as \\uXXXX escapes, as a client would
    return await client.request(
        method, API + path, content=raw, headers={**headers, "content-type": "application/json"}
    )


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
async def test_text_that_is_not_text_is_refused_naming_the_field(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], method: str, path: str, body: Any, field: str
) -> None:
    response = await send(client, method, path.format(**ids), body, owner)

    error = assert_error(response, 422, "validation_error")
    assert [e["key"] for e in error["extra"]] == [field], error


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/usage/events", {"cursor": "a\u0000"}),
        ("/usage/events", {"turn_id": "\u0000"}),
        ("/usage/summary", {"group_by": "model\u0000"}),
        ("/rooms", {"cursor": "\u0000"}),
        ("/sessions/{session}/turns", {"cursor": "x\u0000y"}),
        ("/sessions/{session}/messages", {"limit": "5\u0000"}),
    ],
)
async def test_query_parameters_follow_the_same_rule(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], path: str, params: dict[str, str]
) -> None:
    response = await client.get(API + path.format(**ids), params=params, headers=owner)
    error = assert_error(response, 422, "validation_error")
    assert [e["key"] for e in error["extra"]] == list(params)


async def test_a_nul_in_a_path_segment_is_not_found(client: AsyncTestClient, owner: dict[str, str]) -> None:
    assert_error(await client.get(f"{API}/pricing/2026-02-20%00", headers=owner), 404, "not_found")


@pytest.mark.parametrize("key", ["k\u0000", "", "k" * 201, "tab\tkey"])
async def test_an_idempotency_key_must_be_printable_text(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], key: str
) -> None:
    response = await client.post(
        f"{API}/sessions/{ids['session']}/turns",
        json={"message": "@target hi"},
        headers={**owner, "Idempotency-Key": key},
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/rooms/{room}/agents", {**AGENT, "agent_key": "x\n"}, "agent_key"),  # `$` lets a trailing newline by
        ("/users", {"email": "newline@example.com\n"}, "email"),
    ],
)
async def test_patterns_match_the_whole_value(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], path: str, body: Any, field: str
) -> None:
    error = assert_error(await send(client, "POST", path.format(**ids), body, owner), 422, "validation_error")
    assert [e["key"] for e in error["extra"]] == [field]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", "/rooms/{room}/agents/{agent}", {"position": "2"}, "position"),
        ("POST", "/rooms/{room}/agents", {**AGENT, "position": 1.5}, "position"),
        ("POST", "/rooms/{room}/agents", {**AGENT, "position": True}, "position"),
        ("POST", "/rooms", {"name": 42}, "name"),
        ("POST", "/rooms", {"name": "r", "goal": ["a"]}, "goal"),
        ("POST", "/sessions/{session}/turns", {"message": None}, "message"),
        ("POST", "/rooms/{room}/sessions", None, "data"),
        ("POST", "/rooms/{room}/sessions", [], "data"),
        ("POST", "/rooms/{room}/sessions", "{}", "data"),
        ("PUT", "/rooms/{room}/mode", {"mode": 1}, "mode"),
    ],
)
async def test_wrong_json_types_are_refused_not_coerced(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], method: str, path: str, body: Any, field: str
) -> None:
    error = assert_error(await send(client, method, path.format(**ids), body, owner), 422, "validation_error")
    assert [e["key"] for e in error["extra"]] == [field]
    agent = (await client.get(f"{API}/rooms/{ids['room']}/agents", headers=owner)).json()["items"][0]
    assert agent["position"] == 0  # nothing was stored


REAL_TEXT = "Grüße, 你好, مرحبا, שלום 👩🏽‍💻 e\u0301 \u200b — line one\nline two\ttabbed"


async def test_unusual_real_text_is_stored_and_returned_intact(client: AsyncTestClient, owner: dict[str, str]) -> None:
    email = unique_email("üñï").replace("@", "+ü@")
    signed = await client.post(f"{API}/users", json={"email": email, "display_name": "Zoë 👋"})
    assert signed.status_code == 201 and signed.json()["user"]["display_name"] == "Zoë 👋"
    room = await create_room(client, owner, name="Ünïcode 🏛", goal=REAL_TEXT)
    assert (room["name"], room["goal"]) == ("Ünïcode 🏛", REAL_TEXT)
    agent = await add_agent(client, owner, room["id"], "poet", name="Pöet ✍", role_prompt=REAL_TEXT)
    assert (agent["name"], agent["role_prompt"]) == ("Pöet ✍", REAL_TEXT)
    session = await open_session(client, owner, room["id"])
    turn = await client.post(
        f"{API}/sessions/{session['id']}/turns", json={"message": f"@poet {REAL_TEXT}"}, headers=owner
    )
    assert turn.status_code == 201 and turn.json()["user_message"] == f"@poet {REAL_TEXT}"
    messages = (await client.get(f"{API}/sessions/{session['id']}/messages", headers=owner)).json()["items"]
    assert messages[0]["content"] == f"@poet {REAL_TEXT}"
