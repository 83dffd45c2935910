"""One roundtable turn mixing a simulated agent, an OpenAI-compatible agent and an Anthropic agent.

Everything is real but the providers: HTTP app, PostgreSQL, LangGraph, the adapters over httpx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import (
    Api,
    last_user_text,
    model_table,
    provider_app,
    provider_table,
    system_text,
)
from tests.support.llm_servers import FakeUsage

OPENAI_KEY = "oai-loopback-key-4f1c0d2e9a"
ANTHROPIC_KEY = "anth-loopback-key-8b7e6a5d4c"
ROLES = {
    "sage": "You are a patient philosopher who answers with questions.",
    "gpt": "You are a terse systems engineer who counts the costs.",
    "claude": "You are a careful editor who summarises the discussion.",
}


@pytest.fixture(scope="module")
async def api(database_url: str, loopback: Loopback, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    config = (
        provider_table("oai", loopback.openai, "PANTHEON_TEST_OAI_KEY", timeout_s=5, max_retries=2)
        + provider_table("anth", loopback.anthropic, "PANTHEON_TEST_ANTH_KEY", timeout_s=5, max_retries=2)
        + model_table("gpt-loop", "oai", "gpt-4.1-loopback")
        + model_table("claude-loop", "anth", "claude-loopback-4")
    )
    env = {"PANTHEON_TEST_OAI_KEY": OPENAI_KEY, "PANTHEON_TEST_ANTH_KEY": ANTHROPIC_KEY}
    async with provider_app(database_url, tmp_path_factory.mktemp("mixed"), config, env) as running:
        yield running


async def test_sim_openai_and_anthropic_agents_answer_one_roundtable_turn(api: Api, loopback: Loopback) -> None:
    loopback.openai.script(
        loopback.openai.kit.stream(
            ["Costs first: ", "one database, ", "one backup plan."],
            usage=FakeUsage(input=310, cached=200, output=11),
            chunk_id="chatcmpl-mixed-1",
        )
    )
    loopback.anthropic.script(
        loopback.anthropic.kit.stream(
            ["In short: ", "keep it simple."], usage=FakeUsage(input=420, cached=0, output=7), chunk_id="msg_mixed_1"
        )
    )
    session = await api.roundtable(
        ("sage", "sim", ROLES["sage"]), ("gpt", "gpt-loop", ROLES["gpt"]), ("claude", "claude-loop", ROLES["claude"])
    )

    turn = await api.turn(session, "Which database should we pick?")

    assert (turn["mode"], turn["status"]) == ("roundtable", "completed")
    assert [(s["index"], s["agent_key"], s["model"], s["status"], s["error"]) for s in turn["steps"]] == [
        (0, "sage", "sim", "completed", None),
        (1, "gpt", "gpt-loop", "completed", None),
        (2, "claude", "claude-loop", "completed", None),
    ]
    sage, gpt, claude = turn["steps"]
    assert sage["content"]  # the simulated answer
    assert gpt["content"] == "Costs first: one database, one backup plan."
    assert claude["content"] == "In short: keep it simple."
    assert gpt["usage"] | {"credits": None} == {
        "input_tokens": 310,
        "cached_input_tokens": 200,
        "output_tokens": 11,
        "credits": None,
    }
    assert claude["usage"]["input_tokens"] == 420 and claude["usage"]["output_tokens"] == 7

    rows = await api.ledger(turn["id"])
    assert [
        (r["step_index"], r["agent_key"], r["provider"], r["model_alias"], r["provider_model"], r["status"])
        for r in rows
    ] == [
        (0, "sage", "simulated", "sim", "pantheon-sim", "success"),
        (1, "gpt", "oai", "gpt-loop", "gpt-4.1-loopback", "success"),
        (2, "claude", "anth", "claude-loop", "claude-loopback-4", "success"),
    ]
    by_agent = {r["agent_key"]: r for r in rows}
    assert (
        by_agent["gpt"]["input_tokens_fresh"],
        by_agent["gpt"]["input_tokens_cached"],
        by_agent["gpt"]["output_tokens"],
    ) == (110, 200, 11)
    assert (
        by_agent["claude"]["input_tokens_fresh"],
        by_agent["claude"]["input_tokens_cached"],
        by_agent["claude"]["output_tokens"],
    ) == (420, 0, 7)
    assert by_agent["gpt"]["request_id"] == "chatcmpl-mixed-1" and by_agent["claude"]["request_id"] == "msg_mixed_1"
    assert not any(r["usage_estimated"] for r in rows)
    assert {r["pricing_version"] for r in rows} == {"2026-02-20"}
    assert all(r["turn_id"] == turn["id"] and r["session_id"] == session for r in rows)
    await api.check_accounting(turn, rows)
    # Unpriced aliases bill at the default multiplier and cost nothing in USD; 0.35*110 + 0.1*200 + 11 = 69.5 OE.
    assert (by_agent["gpt"]["oe_tokens"], by_agent["gpt"]["multiplier"]) == ("69.5000", "1.0000")
    assert (by_agent["gpt"]["credits_burned"], by_agent["gpt"]["provider_cost_usd"]) == ("0.0070", "0.00000000")


async def test_each_provider_received_its_own_agent_prompt_model_and_key(api: Api, loopback: Loopback) -> None:
    session = await api.roundtable(
        ("sage", "sim", ROLES["sage"]), ("gpt", "gpt-loop", ROLES["gpt"]), ("claude", "claude-loop", ROLES["claude"])
    )

    turn = await api.turn(session, "Should we shard now or later?")

    assert turn["status"] == "completed"
    [to_openai] = loopback.openai.requests
    [to_anthropic] = loopback.anthropic.requests
    # OpenAI-compatible: POST {base}/chat/completions, Bearer key, streaming with usage.
    assert (to_openai.method, to_openai.path) == ("POST", "/v1/chat/completions")
    assert to_openai.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert "x-api-key" not in to_openai.headers
    body = to_openai.json()
    assert (body["model"], body["stream"], body["stream_options"]) == (
        "gpt-4.1-loopback",
        True,
        {"include_usage": True},
    )
    assert body["messages"][0]["role"] == "system"
    # Anthropic Messages: POST {base}/messages, x-api-key and anthropic-version, system at top level.
    assert (to_anthropic.method, to_anthropic.path) == ("POST", "/v1/messages")
    assert to_anthropic.headers["x-api-key"] == ANTHROPIC_KEY
    assert to_anthropic.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in to_anthropic.headers
    body = to_anthropic.json()
    assert (body["model"], body["stream"]) == ("claude-loopback-4", True)
    assert all(m["role"] != "system" for m in body["messages"]) and body["messages"][0]["role"] == "user"
    # Each agent's system prompt carries its own role, never another agent's.
    for request, own in ((to_openai, "gpt"), (to_anthropic, "claude")):
        system = system_text(request)
        assert ROLES[own] in system
        assert all(ROLES[other] not in system for other in ROLES if other != own)
    # Roundtable: later agents see the earlier answers of this turn, the user's message last.
    sage, gpt, _ = turn["steps"]
    assert sage["content"] in last_user_text(to_openai)
    assert sage["content"] in last_user_text(to_anthropic) and gpt["content"] in last_user_text(to_anthropic)
    assert last_user_text(to_anthropic).endswith("Should we shard now or later?")


async def test_models_lists_the_configured_aliases_as_available(api: Api) -> None:
    models = await api.models()

    assert {k: models["gpt-loop"][k] for k in ("provider", "provider_model", "available")} == {
        "provider": "oai",
        "provider_model": "gpt-4.1-loopback",
        "available": True,
    }
    assert {k: models["claude-loop"][k] for k in ("provider", "provider_model", "available")} == {
        "provider": "anth",
        "provider_model": "claude-loopback-4",
        "available": True,
    }
    assert models["claude-loop"]["context_window"] == 32768 and models["claude-loop"]["multiplier"] == "1.0000"
