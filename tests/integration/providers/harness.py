"""The real app (HTTP, PostgreSQL, LangGraph, the real LLM adapters) against loopback LLM servers.

`provider_app` writes a TOML config naming the loopback servers, sets the API key variables *before*
the container builds its catalog (the catalog reads keys from the live environment at each request,
so they stay set until the app is closed), and yields an `Api` driver. The loopback servers run on a
thread of their own (`ServerThread`): AsyncTestClient calls the app through a blocking portal, so a
server on the test's event loop could not answer the app.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from application.ports.llm import ChatMessage
from domain.pricing import ModelPrice, PricingVersion, price_call
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.llm_servers import RecordedRequest, ScriptedLlmServer

API = "/api/v1"
# The catalog reads these: a developer's real key or config file must not leak into these tests.
ISOLATED_ENV = ("OPENROUTER_API_KEY", "PANTHEON_CONFIG")
DECIMAL_FIELDS = ("oe_tokens", "multiplier", "credits_burned", "provider_cost_usd")


def provider_table(name: str, server: ScriptedLlmServer, key_env: str | None, **settings: Any) -> str:
    lines = [f"[providers.{name}]", f'kind = "{server.kit.kind}"', f'base_url = "{server.base_url}"']
    if key_env is not None:
        lines.append(f'api_key_env = "{key_env}"')
    lines += [
        f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"' for key, value in settings.items()
    ]
    return "\n".join(lines) + "\n\n"


def model_table(alias: str, provider: str, provider_model: str, **prices: str) -> str:
    lines = [
        f'[models."{alias}"]',
        f'provider = "{provider}"',
        f'provider_model = "{provider_model}"',
        "context_window = 32768",
    ]
    lines += [f'{key} = "{value}"' for key, value in prices.items()]
    return "\n".join(lines) + "\n\n"


class Api:
    """A user of the public HTTP API. Every response is checked never to be a 5xx and is kept."""

    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.bodies: list[str] = []  # every response body seen (the secrets test scans them)
        self._pricing: dict[str, PricingVersion] = {}

    async def call(self, method: str, path: str, *, expect: int | None = None, **kwargs: Any) -> Any:
        response = await self.client.request(method, f"{API}{path}", headers=self.headers, **kwargs)
        self.bodies.append(response.text)
        assert response.status_code < 500, f"{method} {path} answered {response.status_code}: {response.text}"
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def sign_up(self) -> None:
        email = f"providers-{uuid.uuid4().hex[:12]}@example.com"
        body = await self.call("POST", "/users", json={"email": email}, expect=201)
        self.headers = {"Authorization": f"Bearer {body['api_key']}"}

    async def roundtable(self, *agents: tuple[str, str, str]) -> str:
        """A roundtable room of (agent_key, model alias, role prompt) in that order; returns a new session id."""
        return await self.room("roundtable", *agents)

    async def orchestrated(self, manager_model: str, *agents: tuple[str, str, str]) -> str:
        """An orchestrator room whose manager is `manager_model`; agents and result as `room`."""
        return await self.room("orchestrator", *agents, manager_model=manager_model)

    async def room(self, mode: str, *agents: tuple[str, str, str], manager_model: str | None = None) -> str:
        """A room of `mode` with (agent_key, model alias, role prompt) in that order; returns a new session id."""
        body = {"name": "Council", "mode": mode, "manager_model": manager_model}
        room = await self.call("POST", "/rooms", json=body, expect=201)
        for position, (key, model, prompt) in enumerate(agents):
            await self.call(
                "POST",
                f"/rooms/{room['id']}/agents",
                expect=201,
                json={
                    "agent_key": key,
                    "name": key.title(),
                    "model": model,
                    "role_prompt": prompt,
                    "position": position,
                },
            )
        session = await self.call("POST", f"/rooms/{room['id']}/sessions", json={}, expect=201)
        return session["id"]

    async def turn(self, session_id: str, message: str) -> dict[str, Any]:
        return await self.call("POST", f"/sessions/{session_id}/turns", json={"message": message}, expect=201)

    async def ledger(self, turn_id: str) -> list[dict[str, Any]]:
        body = await self.call("GET", "/usage/events", params={"turn_id": turn_id, "limit": "500"}, expect=200)
        return body["items"]

    async def models(self) -> dict[str, dict[str, Any]]:
        return {m["alias"]: m for m in (await self.call("GET", "/models", expect=200))["items"]}

    async def pricing_version(self, version: str) -> PricingVersion:
        if version not in self._pricing:
            self._pricing[version] = pricing_from_json(await self.call("GET", f"/pricing/{version}", expect=200))
        return self._pricing[version]

    async def check_accounting(self, turn: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """Every row recomputes from its tokens and pricing version; steps and the turn sum their rows."""
        for row in rows:
            assert all(isinstance(row[f], str) for f in DECIMAL_FIELDS), row
            assert row["total_tokens"] == row["input_tokens_fresh"] + row["input_tokens_cached"] + row["output_tokens"]
            pricing = await self.pricing_version(row["pricing_version"])
            charge = price_call(
                pricing, row["model_alias"], row["input_tokens_fresh"], row["input_tokens_cached"], row["output_tokens"]
            )
            assert [Decimal(row[f]) for f in DECIMAL_FIELDS] == [
                charge.oe_tokens,
                charge.multiplier,
                charge.credits_burned,
                charge.provider_cost_usd,
            ], row
        for step in turn["steps"]:
            mine = [r for r in rows if r["step_index"] == step["index"]]
            assert all(r["agent_key"] == step["agent_key"] and r["model_alias"] == step["model"] for r in mine)
            assert step["usage"]["input_tokens"] == sum(
                r["input_tokens_fresh"] + r["input_tokens_cached"] for r in mine
            )
            assert step["usage"]["cached_input_tokens"] == sum(r["input_tokens_cached"] for r in mine)
            assert step["usage"]["output_tokens"] == sum(r["output_tokens"] for r in mine)
            assert Decimal(step["usage"]["credits"]) == sum(Decimal(r["credits_burned"]) for r in mine)
        usage = turn["usage"]
        assert usage["llm_calls"] == len(rows)
        assert usage["input_tokens"] == sum(r["input_tokens_fresh"] + r["input_tokens_cached"] for r in rows)
        assert usage["output_tokens"] == sum(r["output_tokens"] for r in rows)
        assert isinstance(usage["credits"], str)
        assert Decimal(usage["credits"]) == sum(Decimal(r["credits_burned"]) for r in rows)


def pricing_from_json(body: Mapping[str, Any]) -> PricingVersion:
    return PricingVersion(
        version=body["version"],
        effective_from=datetime.fromisoformat(body["effective_from"]),
        fresh_input_weight=Decimal(body["fresh_input_weight"]),
        cached_input_weight=Decimal(body["cached_input_weight"]),
        output_weight=Decimal(body["output_weight"]),
        oe_tokens_per_credit=Decimal(body["oe_tokens_per_credit"]),
        multiplier_floor=Decimal(body["multiplier_floor"]),
        default_multiplier=Decimal(body["default_multiplier"]),
        models={
            m["alias"]: ModelPrice(
                alias=m["alias"],
                multiplier=Decimal(m["multiplier"]),
                input_usd_per_mtok=Decimal(m["input_usd_per_mtok"]),
                cached_input_usd_per_mtok=Decimal(m["cached_input_usd_per_mtok"]),
                output_usd_per_mtok=Decimal(m["output_usd_per_mtok"]),
            )
            for m in body["models"]
        },
    )


def sent_messages(request: RecordedRequest) -> list[ChatMessage]:
    """The chat messages a provider received, as Pantheon's port saw them (system first)."""
    body = request.json()
    if "system" in body or request.path.endswith("/messages"):
        system = [ChatMessage("system", body["system"])] if body.get("system") else []
        return system + [ChatMessage(m["role"], m["content"]) for m in body["messages"]]
    return [ChatMessage(m["role"], m["content"]) for m in body["messages"]]


def system_text(request: RecordedRequest) -> str:
    return "\n\n".join(m.content for m in sent_messages(request) if m.role == "system")


def last_user_text(request: RecordedRequest) -> str:
    return [m.content for m in sent_messages(request) if m.role == "user"][-1]


@contextlib.asynccontextmanager
async def provider_app(
    database_url: str, config_dir: Path, config: str, env: Mapping[str, str], **settings: Any
) -> AsyncIterator[Api]:
    """The app with `config` as its PANTHEON_CONFIG file and `env` set (before the catalog is built)."""
    path = config_dir / f"pantheon-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(config)
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED_ENV:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        container = Container(
            settings=Settings(database_url=database_url, db_pool_max=4, config_path=str(path), **settings),
            database_url=database_url,
        )
        async with AsyncTestClient(create_app(container)) as client:
            api = Api(client)
            await api.sign_up()
            yield api
