"""Stopping a running turn over HTTP (docs/http-api.md, Stopping a turn): the real app under uvicorn in
this process, real PostgreSQL, and loopback OpenAI-compatible and Anthropic servers that stream slowly
and record when a client hangs up on them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from domain.budget import estimate_tokens
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import API, ISOLATED_ENV
from tests.integration.providers.harness import model_table, provider_table
from tests.support.llm_servers import AnthropicServer, FakeUsage, OpenAiServer, ScriptedLlmServer
from tests.support.server_process import free_port

KEY_ENV = "PANTHEON_TEST_STOP_KEY"
PARTIAL = ["The first ", "half of ", "an answer "]  # what arrives before the provider goes quiet


class Stack:
    def __init__(self, url: str, openai: OpenAiServer, anthropic: AnthropicServer) -> None:
        self.url, self.openai, self.anthropic = url, openai, anthropic


@pytest.fixture(scope="module")
async def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with OpenAiServer() as openai, AnthropicServer() as anthropic:
        config = (
            provider_table("loop_openai", openai, KEY_ENV, max_retries=0, timeout_s=60)
            + provider_table("loop_anthropic", anthropic, KEY_ENV, max_retries=0, timeout_s=60)
            + model_table("oa", "loop_openai", "fake-gpt")
            + model_table("an", "loop_anthropic", "fake-claude")
        )
        path = Path(tmp_path_factory.mktemp("stop")) / "pantheon.toml"
        path.write_text(config)
        with pytest.MonkeyPatch.context() as env:
            for name in ISOLATED_ENV:
                env.delenv(name, raising=False)
            env.setenv(KEY_ENV, "sk-loopback")
            settings = Settings(
                database_url=database_url, db_pool_max=6, config_path=str(path), sim_slow_chunk_delay_s=0.1
            )
            container = Container(settings=settings, database_url=database_url)
            port = free_port()
            config_ = uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_config=None, loop="none")
            server = uvicorn.Server(config_)
            serving = asyncio.ensure_future(server.serve())
            while not server.started:
                await asyncio.sleep(0.02)
            yield Stack(f"http://127.0.0.1:{port}", openai, anthropic)
            server.should_exit = True
            await serving


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    stack.openai.reset()
    stack.anthropic.reset()
    async with httpx.AsyncClient(base_url=stack.url + API, timeout=60) as client:
        email = f"stop-{uuid.uuid4().hex[:12]}@example.com"
        key = (await client.post("/users", json={"email": email})).json()["api_key"]
        client.headers["Authorization"] = f"Bearer {key}"
        yield client


async def session_of(api: httpx.AsyncClient, mode: str, agents: list[tuple[str, str]], **room: Any) -> str:
    response = await api.post("/rooms", json={"name": "Council", "mode": mode, **room})
    assert response.status_code == 201, response.text
    room_id = response.json()["id"]
    for position, (key, model) in enumerate(agents):
        body = {
            "agent_key": key,
            "name": key.title(),
            "model": model,
            "role_prompt": f"You are {key}.",
            "position": position,
        }
        assert (await api.post(f"/rooms/{room_id}/agents", json=body)).status_code == 201
    return (await api.post(f"/rooms/{room_id}/sessions", json={})).json()["id"]


async def running_turn(api: httpx.AsyncClient, session_id: str, ready: Callable[[], bool] | None = None) -> str:
    """The id of the session's running turn once `ready()` (by default: once its first step is talking)."""
    for _ in range(600):
        items = (await api.get(f"/sessions/{session_id}/turns")).json()["items"]
        if items and (ready() if ready else await talking(api, session_id, items[0]["id"])):
            return items[0]["id"]
        await asyncio.sleep(0.05)
    raise AssertionError("the turn never got going")


async def talking(api: httpx.AsyncClient, session_id: str, turn_id: str) -> bool:
    """Some text of the turn is stored (a slow model's deltas are, every 100 ms)."""
    try:
        async with asyncio.timeout(0.5):
            return any(e["event"] == "step_delta" for e in await events_of(api, session_id, turn_id))
    except TimeoutError:
        return False


async def events_of(api: httpx.AsyncClient, session_id: str, turn_id: str) -> list[dict[str, Any]]:
    """The turn's events as the replay route streams them, up to its terminal event."""
    events: list[dict[str, Any]] = []
    async with api.stream("GET", f"/sessions/{session_id}/turns/{turn_id}/events") as response:
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append({"event": kind, "data": json.loads(line[6:])})
                if kind == "step_delta":
                    break  # enough for `talking`; a full read ends by itself at the terminal event
    return events


async def all_events(api: httpx.AsyncClient, session_id: str, turn_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with api.stream("GET", f"/sessions/{session_id}/turns/{turn_id}/events") as response:
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append({"event": kind, "data": json.loads(line[6:])})
    return events


def slow_reply(server: ScriptedLlmServer, usage: FakeUsage) -> Any:
    """Three pieces, then a minute of silence before the rest: the call is cut during the silence."""
    return server.kit.stream([*PARTIAL, "and the rest."], usage=usage, pause_after=len(PARTIAL), pause_s=60)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_stop_now_closes_the_provider_connection_and_bills_the_cut_call_once(
    api: httpx.AsyncClient, stack: Stack, provider: str
) -> None:
    server = stack.openai if provider == "openai" else stack.anthropic
    model = "oa" if provider == "openai" else "an"
    server.script(slow_reply(server, FakeUsage(input=1234, output=99)))
    session_id = await session_of(api, "roundtable", [("ada", model), ("bob", "sim")])
    turn_request = asyncio.ensure_future(api.post(f"/sessions/{session_id}/turns", json={"message": "Go."}))
    # The pieces come at once, then silence: wait for the request, and give the pieces a moment to arrive.
    turn_id = await running_turn(api, session_id, lambda: len(server.requests) == 1)
    await asyncio.sleep(0.3)

    stopped = await api.post(f"/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "now"})
    assert stopped.status_code == 202, stopped.text
    assert stopped.json()["id"] == turn_id

    answered = await asyncio.wait_for(turn_request, 30)  # the turn's own request ends with the stopped turn
    turn = answered.json()
    assert answered.status_code == 201 and (turn["status"], turn["stop_reason"]) == ("stopped", "user"), turn
    assert [(s["agent_key"], s["status"], s["content"]) for s in turn["steps"]] == [
        ("ada", "stopped", "".join(PARTIAL))
    ]
    assert len(server.requests) == 1 and len(server.disconnects) == 1  # the provider saw its connection close

    rows = (await api.get("/usage/events", params={"turn_id": turn_id})).json()["items"]
    assert len(rows) == 1, rows  # bob never ran; the cut call is one row
    row = rows[0]
    assert (row["status"], row["step_index"], row["usage_estimated"]) == ("cancelled", 0, True)
    assert row["output_tokens"] == estimate_tokens("".join(PARTIAL))  # the partial output, estimated
    if provider == "anthropic":  # message_start carried the input count: the provider's figure is billed
        assert row["input_tokens_fresh"] == 1234
    else:  # nothing reported before the cut: the prompt is estimated
        assert 0 < row["input_tokens_fresh"] < 1234
    assert Decimal(row["credits_burned"]) > 0 and Decimal(turn["usage"]["credits"]) == Decimal(row["credits_burned"])
    assert turn["usage"]["llm_calls"] == 1
    debits = [t for t in (await api.get("/credits/transactions")).json()["items"] if t["kind"] == "debit"]
    assert [(t["llm_call_event_id"], Decimal(t["amount"])) for t in debits] == [
        (row["id"], -Decimal(row["credits_burned"]))
    ]  # the wallet paid for the cut call once

    events = await all_events(api, session_id, turn_id)
    completed = [e["data"] for e in events if e["event"] == "step_completed"]
    assert [(e["index"], e["status"], e["content"]) for e in completed] == [(0, "stopped", "".join(PARTIAL))]
    assert events[-1]["event"] == "turn_completed" and events[-1]["data"]["turn"]["status"] == "stopped"

    again = await api.post(f"/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "now"})
    assert again.status_code == 409 and again.json()["code"] == "turn_not_running"
    rows = (await api.get("/usage/events", params={"turn_id": turn_id})).json()["items"]
    assert len(rows) == 1  # a repeated stop bills nothing more


async def test_after_step_lets_the_current_agent_finish_and_no_later_one_start(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    session_id = await session_of(api, "roundtable", [(k, "sim-slow") for k in ("ada", "bob", "cy", "dee")])
    turn_request = asyncio.ensure_future(api.post(f"/sessions/{session_id}/turns", json={"message": "Slowly."}))
    turn_id = await running_turn(api, session_id)
    first = await api.post(f"/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "after_step"})
    second = await api.post(f"/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "after_step"})
    assert (first.status_code, second.status_code) == (202, 202)  # a repeat is harmless
    assert first.json()["status"] == "running"

    turn = (await asyncio.wait_for(turn_request, 60)).json()
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "user")
    assert [(s["agent_key"], s["status"]) for s in turn["steps"]] == [("ada", "completed")]  # finished, whole
    rows = (await api.get("/usage/events", params={"turn_id": turn_id})).json()["items"]
    assert [(r["agent_key"], r["status"]) for r in rows] == [("ada", "success")]  # bob, cy and dee never called


async def test_stop_answers_409_on_a_finished_turn_and_404_on_no_turn(api: httpx.AsyncClient) -> None:
    session_id = await session_of(api, "roundtable", [("ada", "sim")])
    turn = (await api.post(f"/sessions/{session_id}/turns", json={"message": "Hi."})).json()
    response = await api.post(f"/sessions/{session_id}/turns/{turn['id']}/stop", json={"mode": "after_step"})
    assert response.status_code == 409 and response.json()["code"] == "turn_not_running"
    missing = await api.post(f"/sessions/{session_id}/turns/{uuid.uuid4()}/stop", json={"mode": "now"})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    bad = await api.post(f"/sessions/{session_id}/turns/{turn['id']}/stop", json={"mode": "later"})
    assert 400 <= bad.status_code < 500 and bad.json()["code"] == "validation_error"
    again = (await api.get(f"/sessions/{session_id}/turns/{turn['id']}")).json()
    assert (again["status"], again["stop_reason"]) == ("completed", None)


async def test_another_users_turn_cannot_be_stopped(api: httpx.AsyncClient, stack: Stack) -> None:
    session_id = await session_of(api, "roundtable", [(k, "sim-slow") for k in ("ada", "bob")])
    turn_request = asyncio.ensure_future(api.post(f"/sessions/{session_id}/turns", json={"message": "Mine."}))
    turn_id = await running_turn(api, session_id)
    async with httpx.AsyncClient(base_url=stack.url + API, timeout=30) as other:
        key = (await other.post("/users", json={"email": f"other-{uuid.uuid4().hex[:8]}@example.com"})).json()
        other.headers["Authorization"] = f"Bearer {key['api_key']}"
        response = await other.post(f"/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "now"})
    assert response.status_code == 404
    turn = (await asyncio.wait_for(turn_request, 60)).json()
    assert turn["status"] == "completed" and len(turn["steps"]) == 2


async def test_after_step_in_an_orchestrated_turn_still_gets_its_synthesis(api: httpx.AsyncClient) -> None:
    session_id = await session_of(api, "orchestrator", [(k, "sim-slow") for k in ("ada", "bob", "cy")])
    turn_request = asyncio.ensure_future(api.post(f"/sessions/{session_id}/turns", json={"message": "Everyone?"}))
    turn_id = await running_turn(api, session_id)  # ada, the first agent the manager called, is talking
    assert (
        await api.post(f"/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "after_step"})
    ).status_code == 202

    turn = (await asyncio.wait_for(turn_request, 60)).json()
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "user")
    assert [(s["kind"], s["agent_key"], s["status"]) for s in turn["steps"]] == [
        ("manager", None, "completed"),
        ("agent", "ada", "completed"),
        ("synthesis", None, "completed"),  # written from ada's answer; bob and cy never called
    ]
    rows = (await api.get("/usage/events", params={"turn_id": turn_id})).json()["items"]
    assert [r["purpose"] for r in rows] == ["manager", "agent", "synthesis"]
