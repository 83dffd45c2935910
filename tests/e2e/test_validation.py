"""Every way a request can be wrong answers 4xx with the documented code, never 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session

AGENT = {"agent_key": "critic", "name": "Critic", "model": "sim", "role_prompt": "Be critical."}


@pytest.fixture(scope="module")
async def owner(client: AsyncTestClient) -> dict[str, str]:
    return await auth_headers(client, "validator")


@pytest.fixture(scope="module")
async def ids(client: AsyncTestClient, owner: dict[str, str]) -> dict[str, str]:
    room = await create_room(client, owner, name="Target")
    agent = await add_agent(client, owner, room["id"], "target")
    session = await open_session(client, owner, room["id"])
    return {"room": room["id"], "agent": agent["id"], "session": session["id"]}


def json_headers(owner: dict[str, str], content_type: str = "application/json") -> dict[str, str]:
    return {**owner, "Content-Type": content_type}


# Malformed bodies: 400 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad json",
        b'{"name": "x"',
        b'{"name": "x",}',
        b"\xff\xfe\x00",
        b"[" * 5000,  # deep and unfinished
    ],
    ids=["garbage", "truncated", "trailing comma", "not utf-8", "deep unfinished"],
)
async def test_a_malformed_body_is_a_400(client: AsyncTestClient, owner: dict[str, str], raw: bytes) -> None:
    response = await client.post(f"{API}/rooms", content=raw, headers=json_headers(owner))

    assert_error(response, 400, "validation_error")


# Well-formed bodies with a bad field: 422 ------------------------------------------------------------


def long(n: int) -> str:
    return "x" * n


BAD_BODIES: list[tuple[str, str, str, Any, str]] = [
    # (id, method, path under /api/v1 with {room}/{agent}, body, field named in the error)
    ("room unknown field", "POST", "/rooms", {"name": "x", "colour": "red"}, "colour"),
    ("room name wrong type", "POST", "/rooms", {"name": 5}, "name"),
    ("room name missing", "POST", "/rooms", {"goal": "g"}, "name"),
    ("room name 201 chars", "POST", "/rooms", {"name": long(201)}, "name"),
    ("room name blank", "POST", "/rooms", {"name": "   "}, "name"),
    ("room goal 2001 chars", "POST", "/rooms", {"name": "x", "goal": long(2001)}, "goal"),
    ("room bad mode", "POST", "/rooms", {"name": "x", "mode": "chaos"}, "mode"),
    ("room body not an object", "POST", "/rooms", ["name"], "data"),
    ("room body deeply nested", "POST", "/rooms", [[[[[[[[[[[]]]]]]]]]]], "data"),
    ("patch room unknown field", "PATCH", "/rooms/{room}", {"mode": "roundtable"}, "mode"),
    ("patch room name null", "PATCH", "/rooms/{room}", {"name": None}, "name"),
    ("patch room name 201 chars", "PATCH", "/rooms/{room}", {"name": long(201)}, "name"),
    ("patch room goal 2001 chars", "PATCH", "/rooms/{room}", {"goal": long(2001)}, "goal"),
    ("mode missing", "PUT", "/rooms/{room}/mode", {}, "mode"),
    ("mode unknown", "PUT", "/rooms/{room}/mode", {"mode": "anarchy"}, "mode"),
    ("agent key uppercase", "POST", "/rooms/{room}/agents", {**AGENT, "agent_key": "Critic"}, "agent_key"),
    ("agent key digit first", "POST", "/rooms/{room}/agents", {**AGENT, "agent_key": "1critic"}, "agent_key"),
    ("agent key dash", "POST", "/rooms/{room}/agents", {**AGENT, "agent_key": "the-critic"}, "agent_key"),
    ("agent key 33 chars", "POST", "/rooms/{room}/agents", {**AGENT, "agent_key": "a" * 33}, "agent_key"),
    ("agent key empty", "POST", "/rooms/{room}/agents", {**AGENT, "agent_key": ""}, "agent_key"),
    ("agent role_prompt 20001", "POST", "/rooms/{room}/agents", {**AGENT, "role_prompt": long(20_001)}, "role_prompt"),
    ("agent name 201 chars", "POST", "/rooms/{room}/agents", {**AGENT, "name": long(201)}, "name"),
    ("agent position 10001", "POST", "/rooms/{room}/agents", {**AGENT, "position": 10_001}, "position"),
    ("agent position -1", "POST", "/rooms/{room}/agents", {**AGENT, "position": -1}, "position"),
    ("agent position string", "POST", "/rooms/{room}/agents", {**AGENT, "position": "first"}, "position"),
    ("agent position huge", "POST", "/rooms/{room}/agents", {**AGENT, "position": 10**30}, "position"),
    ("agent unknown field", "POST", "/rooms/{room}/agents", {**AGENT, "temperature": 1}, "temperature"),
    ("agent model missing", "POST", "/rooms/{room}/agents", {k: v for k, v in AGENT.items() if k != "model"}, "model"),
    ("patch agent position 10001", "PATCH", "/rooms/{room}/agents/{agent}", {"position": 10_001}, "position"),
    ("patch agent key", "PATCH", "/rooms/{room}/agents/{agent}", {"agent_key": "renamed"}, "agent_key"),
    (
        "patch agent role_prompt 20001",
        "PATCH",
        "/rooms/{room}/agents/{agent}",
        {"role_prompt": long(20_001)},
        "role_prompt",
    ),
    ("session unknown field", "POST", "/rooms/{room}/sessions", {"title": "x"}, "title"),
    ("user email missing", "POST", "/users", {"display_name": "x"}, "email"),
    ("user email malformed", "POST", "/users", {"email": "not-an-email"}, "email"),
    ("user email 321 chars", "POST", "/users", {"email": "a" * 309 + "@example.com"}, "email"),
    (
        "user display_name 201",
        "POST",
        "/users",
        {"email": "long@example.com", "display_name": long(201)},
        "display_name",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES]
)
async def test_a_bad_field_is_a_422_that_names_it(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], method: str, path: str, body: Any, field: str
) -> None:
    url = API + path.format(**ids)
    response = await client.request(method, url, json=body, headers=owner)

    error = assert_error(response, 422, "validation_error")
    assert field in str(error.get("extra")), error


async def test_the_limits_themselves_are_accepted(client: AsyncTestClient, owner: dict[str, str]) -> None:
    room = await create_room(client, owner, name=long(200), goal=long(2000))
    agent = await add_agent(
        client, owner, room["id"], "a" + "b" * 31, name=long(200), role_prompt=long(20_000), position=10_000
    )

    assert (len(room["name"]), len(room["goal"])) == (200, 2000)
    assert (len(agent["agent_key"]), len(agent["role_prompt"]), agent["position"]) == (32, 20_000, 10_000)
    response = await client.patch(f"{API}/rooms/{room['id']}/agents/{agent['id']}", json={"position": 0}, headers=owner)
    assert response.status_code == 200


# Transport-level refusals ----------------------------------------------------------------------------


async def test_a_body_over_one_mebibyte_is_a_413(client: AsyncTestClient, owner: dict[str, str]) -> None:
    body = b'{"name": "x", "goal": "' + b"x" * (1024 * 1024) + b'"}'

    response = await client.post(f"{API}/rooms", content=body, headers=json_headers(owner))

    assert_error(response, 413, "payload_too_large")


async def test_a_body_just_under_the_limit_gets_past_the_size_check(
    client: AsyncTestClient, owner: dict[str, str]
) -> None:
    body = b'{"name": "x", "goal": "' + b"x" * (1024 * 1024 - 100) + b'"}'

    response = await client.post(f"{API}/rooms", content=body, headers=json_headers(owner))

    assert_error(response, 422, "validation_error")  # the goal is too long, but the body is not


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_a_415(
    client: AsyncTestClient, owner: dict[str, str], content_type: str | None
) -> None:
    headers = json_headers(owner, content_type) if content_type else owner
    response = await client.post(f"{API}/rooms", content=b'{"name": "x"}', headers=headers)

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/rooms"),
        ("PUT", "/rooms/{room}"),
        ("GET", "/rooms/{room}/mode"),
        ("DELETE", "/users"),
        ("PUT", "/sessions/{session}"),
        ("POST", "/models"),
    ],
)
async def test_an_unsupported_method_is_a_405(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], method: str, path: str
) -> None:
    response = await client.request(method, API + path.format(**ids), headers=owner)

    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/rooms/not-a-uuid", None),
        ("PATCH", "/rooms/12345", {"name": "x"}),
        ("DELETE", "/rooms/not-a-uuid", None),
        ("PUT", "/rooms/not-a-uuid/mode", {"mode": "roundtable"}),
        ("GET", "/rooms/not-a-uuid/agents", None),
        ("POST", "/rooms/not-a-uuid/agents", AGENT),
        ("PATCH", "/rooms/{room}/agents/not-a-uuid", {"name": "x"}),
        ("DELETE", "/rooms/{room}/agents/not-a-uuid", None),
        ("POST", "/rooms/not-a-uuid/sessions", {}),
        ("GET", "/sessions/not-a-uuid", None),
        ("GET", "/sessions/not-a-uuid/messages", None),
    ],
)
async def test_a_malformed_id_in_a_path_is_not_found(
    client: AsyncTestClient, owner: dict[str, str], ids: dict[str, str], method: str, path: str, body: Any
) -> None:
    response = await client.request(method, API + path.format(**ids), json=body, headers=owner)

    assert_error(response, 404, "not_found")


async def test_an_unknown_route_is_not_found(client: AsyncTestClient, owner: dict[str, str]) -> None:
    assert_error(await client.get(f"{API}/nothing-here", headers=owner), 404, "not_found")


async def test_a_random_id_is_not_found(client: AsyncTestClient, owner: dict[str, str]) -> None:
    assert_error(await client.get(f"{API}/rooms/{uuid.uuid4()}", headers=owner), 404, "not_found")
