"""The real app on a real PostgreSQL (a fresh clone per module), driven over HTTP.

`AsyncTestClient` runs the app's lifespan, which opens the container's pool; the test never touches
the container's internals, only the public HTTP contract (docs/http-api.md).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from domain.pricing import ModelPrice, PricingVersion
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.server_process import Server

API = "/api/v1"
# The catalog reads these when it loads: the tests must not see a developer's real key or config file.
ISOLATED_ENV = ("OPENROUTER_API_KEY", "PANTHEON_CONFIG")


def build_client(database_url: str, **settings: Any) -> AsyncTestClient:
    container = Container(
        settings=Settings(database_url=database_url, db_pool_max=4, **settings), database_url=database_url
    )
    return AsyncTestClient(create_app(container))


@pytest.fixture(scope="module")
async def client(database_url: str) -> AsyncIterator[AsyncTestClient]:
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        async with build_client(database_url) as test_client:
            yield test_client


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


async def sign_up(client: AsyncTestClient, label: str = "user") -> dict[str, Any]:
    """A fresh user: the 201 body, `{"user": ..., "api_key": ...}`."""
    response = await client.post(f"{API}/users", json={"email": unique_email(label), "display_name": label})
    assert response.status_code == 201, response.text
    return response.json()


async def auth_headers(client: AsyncTestClient, label: str = "user") -> dict[str, str]:
    return bearer((await sign_up(client, label))["api_key"])


async def create_room(client: AsyncTestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/rooms", json={"name": "Room", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def add_agent(
    client: AsyncTestClient, headers: dict[str, str], room_id: str, agent_key: str, **body: Any
) -> dict[str, Any]:
    payload = {
        "agent_key": agent_key,
        "name": agent_key.title(),
        "model": "sim",
        "role_prompt": f"You are {agent_key}.",
        **body,
    }
    response = await client.post(f"{API}/rooms/{room_id}/agents", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def open_session(client: AsyncTestClient, headers: dict[str, str], room_id: str) -> dict[str, Any]:
    response = await client.post(f"{API}/rooms/{room_id}/sessions", json={}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Every 4xx/5xx body is {status, code, detail}: check all three."""
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def pricing_of(client: AsyncTestClient, headers: dict[str, str], version: str) -> PricingVersion:
    """A published pricing version as GET /pricing/{version} shows it, to recompute ledger rows with."""
    shown = (await client.get(f"{API}/pricing/{version}", headers=headers)).json()
    weights = (
        "fresh_input_weight",
        "cached_input_weight",
        "output_weight",
        "oe_tokens_per_credit",
        "multiplier_floor",
        "default_multiplier",
    )
    return PricingVersion(
        version=shown["version"],
        effective_from=shown["effective_from"],
        **{k: Decimal(shown[k]) for k in weights},
        models={
            m["alias"]: ModelPrice(alias=m["alias"], **{k: Decimal(v) for k, v in m.items() if k != "alias"})
            for m in shown["models"]
        },
    )


@pytest.fixture
def servers(database_url: str) -> Iterator[list[Server]]:
    """Server processes a test starts (it appends them); all stopped when it ends."""
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()
