"""The fuzz tier: requests generated from the service's own OpenAPI document (schemathesis), valid and
invalid ones, against a real server process on a real database. No answer may be a 5xx, and every 4xx
must be the contract's error body.

Each operation runs twice: with generated path ids (mostly unknown: 404s after the input checks) and
with the ids of real resources of the caller (so that the use cases and their SQL run). Examples are
bounded and generation is deterministic (derandomised), so the tier costs the same time on every run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar.serialization import encode_json
from schemathesis import GenerationMode

from entrypoints.admin_cli import create_admin
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import API
from tests.support.server_process import Server

EXAMPLES = 25  # per operation and per test below
COUNT: dict[str, int] = {"requests": 0}


def openapi_document() -> dict[str, Any]:
    """The document the server serves at /schema/openapi.json, built without starting anything."""
    nowhere = "postgresql://nowhere/none"
    app = create_app(Container(settings=Settings(database_url=nowhere), database_url=nowhere))
    return msgspec.json.decode(encode_json(app.openapi_schema.to_schema()))  # as served: JSON values only


schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_x00=True, deterministic=True
)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    process = Server(database_url, PANTHEON_RATE_LIMIT_PER_MINUTE="0")  # thousands of requests, one key
    yield process
    process.stop()
    print(f"\nfuzz tier: {COUNT['requests']} generated requests")  # shown with -s


@pytest.fixture(scope="module")
def owner(server: Server, database_url: str) -> dict[str, Any]:
    """A user with one of everything, for the operations run against real ids; an admin, so that the
    admin routes run their SQL too (on another user, so that a generated suspension never stops it)."""
    base = server.url + API
    httpx.post(f"{base}/users", json={"email": "fuzz@example.com"})
    key, _ = asyncio.run(create_admin(database_url, "fuzz@example.com", Settings()))
    auth = {"Authorization": f"Bearer {key}"}
    other = httpx.post(f"{base}/users", json={"email": "fuzz-customer@example.com"}).json()["user"]["id"]
    room = httpx.post(f"{base}/rooms", json={"name": "Fuzz"}, headers=auth).json()["id"]
    agent = httpx.post(
        f"{base}/rooms/{room}/agents",
        json={"agent_key": "ada", "name": "Ada", "model": "sim", "role_prompt": "Be brief."},
        headers=auth,
    ).json()["id"]
    session = httpx.post(f"{base}/rooms/{room}/sessions", json={}, headers=auth).json()["id"]
    turn = httpx.post(f"{base}/sessions/{session}/turns", json={"message": "@ada hi"}, headers=auth).json()["id"]
    ids = {
        "room_id": room,
        "agent_id": agent,
        "session_id": session,
        "turn_id": turn,
        "version": "2026-02-20",
        "user_id": other,
    }
    return {"auth": auth, "ids": ids}


def check(response: Any) -> None:
    COUNT["requests"] += 1
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == response.status_code, body
        assert isinstance(body["code"], str) and body["code"] and isinstance(body["detail"], str), body
    assert "x-request-id" in response.headers


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@FUZZ
def test_generated_requests_with_generated_ids(case: Any, server: Server, owner: dict[str, Any]) -> None:
    check(case.call(base_url=server.url, headers=owner["auth"], timeout=30))


@schema.exclude(method="DELETE").parametrize()
@FUZZ
def test_generated_requests_against_real_resources(case: Any, server: Server, owner: dict[str, Any]) -> None:
    if case.path_parameters:
        case.path_parameters = {name: owner["ids"].get(name, value) for name, value in case.path_parameters.items()}
    started = time.monotonic()
    check(case.call(base_url=server.url, headers=owner["auth"], timeout=30))
    assert time.monotonic() - started < 30
