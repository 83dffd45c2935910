"""Orchestrator turns whose manager is a real HTTP provider: decisions asked for as structured output.

The whole app runs (HTTP, PostgreSQL, LangGraph, the adapters over httpx); only the providers are
loopback servers, scripted call by call. The manager decides with `response_format` (OpenAI-compatible,
as its provider's `structured_output` says) or a forced tool (Anthropic), a refused decision is repaired
once, and the manager writes the synthesis as a normal streamed answer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from domain.decisions import DECISION_SCHEMA, DecisionError, decode_decision
from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import (
    Api,
    last_user_text,
    model_table,
    provider_app,
    provider_table,
    sent_messages,
)
from tests.support.llm_servers import FakeUsage, RecordedRequest, json_reply

ENV = {"PANTHEON_TEST_OAI_KEY": "oai-decisions-key-1a2b3c", "PANTHEON_TEST_ANTH_KEY": "anth-decisions-key-4d5e6f"}
BOSS_PRICES = {
    "multiplier": "2",
    "input_usd_per_mtok": "1.00",
    "cached_input_usd_per_mtok": "0.10",
    "output_usd_per_mtok": "4.00",
}
AGENTS = (
    ("gpt", "gpt-loop", "You are a terse systems engineer who counts the costs."),
    ("claude", "claude-loop", "You are a careful editor who weighs the risks."),
)
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "decision", "schema": DECISION_SCHEMA, "strict": True},
}


@pytest.fixture(scope="module")
async def api(database_url: str, loopback: Loopback, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    # max_retries 0: every scripted reply is exactly one call, and an unplanned retry shows as a miscount.
    oai, anth, settings = loopback.openai, loopback.anthropic, {"timeout_s": 5, "max_retries": 0}
    config = (
        provider_table("oai", oai, "PANTHEON_TEST_OAI_KEY", **settings)  # structured_output: json_schema
        + provider_table("oai-loose", oai, "PANTHEON_TEST_OAI_KEY", **settings, structured_output="json_object")
        + provider_table("oai-plain", oai, "PANTHEON_TEST_OAI_KEY", **settings, structured_output="prompt")
        + provider_table("anth", anth, "PANTHEON_TEST_ANTH_KEY", **settings)
        + model_table("boss", "oai", "boss-loopback", **BOSS_PRICES)
        + model_table("boss-loose", "oai-loose", "boss-loose-loopback")
        + model_table("boss-plain", "oai-plain", "boss-plain-loopback")
        + model_table("claude-boss", "anth", "claude-boss-loopback")
        + model_table("gpt-loop", "oai", "gpt-4.1-loopback")
        + model_table("claude-loop", "anth", "claude-loopback-4")
    )
    async with provider_app(database_url, tmp_path_factory.mktemp("decisions"), config, ENV) as running:
        yield running


def call_agent(agent_key: str, instruction: str) -> str:
    return json.dumps({"action": "call_agent", "agent_key": agent_key, "instruction": instruction, "reason": None})


def finish(reason: str) -> str:
    return json.dumps({"action": "finish", "agent_key": None, "instruction": None, "reason": reason})


def to_model(server_requests: list[RecordedRequest], provider_model: str) -> list[RecordedRequest]:
    return [r for r in server_requests if r.json()["model"] == provider_model]


def refusal_of(output: str) -> str:
    try:
        decode_decision(output)
    except DecisionError as exc:
        return str(exc)
    raise AssertionError(f"{output!r} decodes")


def shape(turn: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(s["index"], s["kind"], s["agent_key"], s["model"], s["status"]) for s in turn["steps"]]


def ledger_shape(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["step_index"], r["purpose"], r["agent_key"], r["model_alias"], r["status"]) for r in rows]


async def test_json_schema_decisions_call_an_agent_then_finish_and_the_manager_writes_the_synthesis(
    api: Api, loopback: Loopback
) -> None:
    oai, anth = loopback.openai, loopback.anthropic
    decision = call_agent("claude", "Weigh the risks of sharding now.")
    oai.script(
        oai.kit.stream([decision[:25], decision[25:]], usage=FakeUsage(input=1000, output=100), chunk_id="chatcmpl-m1"),
        oai.kit.stream([finish("The risks are weighed.")], usage=FakeUsage(input=1400, cached=400, output=40)),
        oai.kit.stream(["Council: ", "shard later."], usage=FakeUsage(input=900, output=20)),
    )
    anth.script(anth.kit.stream(["Sharding now ", "doubles the risk."], usage=FakeUsage(input=500, output=9)))
    session = await api.orchestrated("boss", *AGENTS)

    turn = await api.turn(session, "Should we shard now or later?")

    assert (turn["mode"], turn["status"], turn["orchestration"]) == ("orchestrator", "completed", {"fallback": False})
    assert shape(turn) == [
        (0, "manager", None, "boss", "completed"),
        (1, "agent", "claude", "claude-loop", "completed"),
        (2, "manager", None, "boss", "completed"),
        (3, "synthesis", None, "boss", "completed"),
    ]
    first, agent, second, synthesis = turn["steps"]
    assert first["decision"] == {
        "action": "call_agent",
        "agent_key": "claude",
        "instruction": "Weigh the risks of sharding now.",
    }
    assert agent["instruction"] == "Weigh the risks of sharding now." and agent["content"] == (
        "Sharding now doubles the risk."
    )
    assert second["decision"] == {"action": "finish", "reason": "The risks are weighed."}
    assert synthesis["content"] == "Council: shard later."
    assert (oai.pending, anth.pending) == (0, 0)

    # The two decision calls asked for the schema, strictly; the synthesis is free text.
    boss_calls = to_model(oai.requests, "boss-loopback")
    assert [r.json().get("response_format") for r in boss_calls] == [JSON_SCHEMA_FORMAT, JSON_SCHEMA_FORMAT, None]
    assert all(r.json()["stream"] is True for r in boss_calls)  # streamed on the wire all the same
    assert "gpt" in sent_messages(boss_calls[0])[0].content and "claude" in sent_messages(boss_calls[0])[0].content
    assert "Sharding now doubles the risk." in last_user_text(boss_calls[1])
    assert "Sharding now doubles the risk." in last_user_text(boss_calls[2])
    [to_agent] = anth.requests
    body = to_agent.json()
    assert "tools" not in body and "response_format" not in body
    assert "Weigh the risks of sharding now." in last_user_text(to_agent)

    rows = await api.ledger(turn["id"])
    assert ledger_shape(rows) == [
        (0, "manager", None, "boss", "success"),
        (1, "agent", "claude", "claude-loop", "success"),
        (2, "manager", None, "boss", "success"),
        (3, "synthesis", None, "boss", "success"),
    ]
    assert rows[0]["request_id"] == "chatcmpl-m1" and not any(r["usage_estimated"] for r in rows)
    await api.check_accounting(turn, rows)
    # boss is priced by the config: 0.35 * 1000 + 100 = 450 OE; x2 / 10,000 = 0.09 credits; $1 + $4 per Mtok.
    assert [rows[0][f] for f in ("oe_tokens", "multiplier", "credits_burned", "provider_cost_usd")] == [
        "450.0000",
        "2.0000",
        "0.0900",
        "0.00140000",
    ]
    assert Decimal(turn["usage"]["credits"]) == sum(Decimal(r["credits_burned"]) for r in rows)


@pytest.mark.parametrize(
    ("refused", "why"),
    [
        pytest.param('{"action": "call_agent"', refusal_of('{"action": "call_agent"'), id="truncated"),
        pytest.param(
            call_agent("ghost", "Haunt the meeting."),
            "There is no agent 'ghost' in this room; choose one of: gpt, claude.",
            id="unknown-agent",
        ),
    ],
)
async def test_a_refused_decision_is_repaired_once_quoting_why_and_the_repair_is_carried_out(
    api: Api, loopback: Loopback, refused: str, why: str
) -> None:
    oai = loopback.openai
    oai.script(
        oai.kit.stream([refused], usage=FakeUsage(input=800, output=12)),
        oai.kit.stream([call_agent("gpt", "Count the costs.")], usage=FakeUsage(input=900, output=30)),
        oai.kit.stream(["Two servers, one backup."], usage=FakeUsage(input=300, output=6)),  # the agent
        oai.kit.stream([finish("Costs counted.")], usage=FakeUsage(input=1000, output=25)),
        oai.kit.stream(["Council: two servers."], usage=FakeUsage(input=700, output=5)),
    )
    session = await api.orchestrated("boss", *AGENTS)

    turn = await api.turn(session, "What will it cost?")

    assert (turn["status"], turn["orchestration"]) == ("completed", {"fallback": False})
    assert shape(turn) == [
        (0, "manager", None, "boss", "completed"),
        (1, "agent", "gpt", "gpt-loop", "completed"),
        (2, "manager", None, "boss", "completed"),
        (3, "synthesis", None, "boss", "completed"),
    ]
    assert turn["steps"][0]["decision"] == {
        "action": "call_agent",
        "agent_key": "gpt",
        "instruction": "Count the costs.",
    }
    assert turn["steps"][1]["content"] == "Two servers, one backup." and turn["steps"][0]["error"] is None
    assert oai.pending == 0 and loopback.anthropic.requests == []

    decide, repair, *_ = to_model(oai.requests, "boss-loopback")
    assert repair.json()["response_format"] == JSON_SCHEMA_FORMAT  # the same request ...
    assert sent_messages(repair)[: len(sent_messages(decide))] == sent_messages(decide)
    *_, echoed, told = sent_messages(repair)  # ... with the refused output and the reason appended
    assert (echoed.role, echoed.content) == ("assistant", refused)
    assert told.role == "user" and f"That decision was refused: {why}" in told.content

    rows = await api.ledger(turn["id"])
    assert ledger_shape(rows) == [
        (0, "manager", None, "boss", "success"),
        (0, "manager", None, "boss", "success"),  # the repair call is billed to the same step
        (1, "agent", "gpt", "gpt-loop", "success"),
        (2, "manager", None, "boss", "success"),
        (3, "synthesis", None, "boss", "success"),
    ]
    assert turn["steps"][0]["usage"]["input_tokens"] == 800 + 900
    await api.check_accounting(turn, rows)


async def test_an_anthropic_manager_decides_through_a_forced_tool(api: Api, loopback: Loopback) -> None:
    oai, anth = loopback.openai, loopback.anthropic
    decision = call_agent("gpt", "Estimate the hosting bill.")
    tool_input = json.loads(finish("The bill is estimated."))
    anth.script(
        anth.kit.tool_stream(
            "decision", [decision[:10], decision[10:40], decision[40:]], usage=FakeUsage(input=600, output=35)
        ),
        json_reply(anth.kit.tool_body("decision", tool_input, FakeUsage(input=700, output=20))),  # not streamed
        anth.kit.stream(["Council: ", "about $40 a month."], usage=FakeUsage(input=650, output=8)),
    )
    oai.script(oai.kit.stream(["$40 a month."], usage=FakeUsage(input=200, output=4)))
    session = await api.orchestrated("claude-boss", *AGENTS)

    turn = await api.turn(session, "What will hosting cost?")

    assert (turn["status"], turn["orchestration"]) == ("completed", {"fallback": False})
    assert shape(turn) == [
        (0, "manager", None, "claude-boss", "completed"),
        (1, "agent", "gpt", "gpt-loop", "completed"),
        (2, "manager", None, "claude-boss", "completed"),
        (3, "synthesis", None, "claude-boss", "completed"),
    ]
    first, agent, second, synthesis = turn["steps"]
    assert first["decision"] == {
        "action": "call_agent",
        "agent_key": "gpt",
        "instruction": "Estimate the hosting bill.",
    }
    assert agent["instruction"] == "Estimate the hosting bill." and agent["content"] == "$40 a month."
    assert second["decision"] == {"action": "finish", "reason": "The bill is estimated."}
    assert synthesis["content"] == "Council: about $40 a month."
    assert (oai.pending, anth.pending) == (0, 0)

    decide, finish_call, synthesize = anth.requests
    for request in (decide, finish_call):
        body = request.json()
        [tool] = body["tools"]
        assert (tool["name"], tool["input_schema"]) == ("decision", DECISION_SCHEMA)
        assert body["tool_choice"] == {"type": "tool", "name": "decision"}
        assert "response_format" not in body and body["model"] == "claude-boss-loopback"
    assert "tools" not in synthesize.json() and "tool_choice" not in synthesize.json()
    [to_agent] = oai.requests
    assert "response_format" not in to_agent.json()

    rows = await api.ledger(turn["id"])
    assert ledger_shape(rows) == [
        (0, "manager", None, "claude-boss", "success"),
        (1, "agent", "gpt", "gpt-loop", "success"),
        (2, "manager", None, "claude-boss", "success"),
        (3, "synthesis", None, "claude-boss", "success"),
    ]
    assert (rows[0]["request_id"], rows[0]["output_tokens"]) == ("msg_fake_tool", 35)
    await api.check_accounting(turn, rows)


@pytest.mark.parametrize(
    ("manager", "provider_model", "asked"),
    [
        ("boss-loose", "boss-loose-loopback", {"type": "json_object"}),
        ("boss-plain", "boss-plain-loopback", None),
    ],
)
async def test_structured_output_json_object_and_prompt_ask_as_configured(
    api: Api, loopback: Loopback, manager: str, provider_model: str, asked: dict[str, str] | None
) -> None:
    oai = loopback.openai
    oai.script(oai.kit.stream([finish("Nothing to ask.")]), oai.kit.stream(["Council: nothing to add."]))
    session = await api.orchestrated(manager, *AGENTS)

    turn = await api.turn(session, "Anything?")

    assert [(s["kind"], s["status"]) for s in turn["steps"]] == [("manager", "completed"), ("synthesis", "completed")]
    assert turn["steps"][0]["decision"] == {"action": "finish", "reason": "Nothing to ask."}
    decide, synthesize = to_model(oai.requests, provider_model)
    assert decide.json().get("response_format") == asked
    assert ("response_format" in decide.json()) == (asked is not None)
    assert "response_format" not in synthesize.json()
    assert [r["purpose"] for r in await api.ledger(turn["id"])] == ["manager", "synthesis"]


async def test_invalid_twice_falls_back_to_a_synthesis_of_what_exists(api: Api, loopback: Loopback) -> None:
    oai = loopback.openai
    oai.script(
        oai.kit.stream(["I think we should ask gpt."], usage=FakeUsage(input=800, output=8)),
        oai.kit.stream(['{"action": "finish"}'], usage=FakeUsage(input=850, output=6)),
        oai.kit.stream(["Council: no agent was asked."], usage=FakeUsage(input=400, output=7)),
    )
    session = await api.orchestrated("boss", *AGENTS)

    turn = await api.turn(session, "Decide something.")

    why = refusal_of('{"action": "finish"}')
    assert turn["status"] == "partial"  # the manager step failed, the synthesis completed
    assert turn["orchestration"] == {"fallback": True, "reason": f"No valid decision after one repair: {why}"}
    assert shape(turn) == [(0, "manager", None, "boss", "failed"), (1, "synthesis", None, "boss", "completed")]
    manager, synthesis = turn["steps"]
    assert manager["error"] == {"code": "invalid_decision", "detail": f"No valid decision after one repair: {why}"}
    assert manager["decision"]["action"] == "finish" and synthesis["content"] == "Council: no agent was asked."
    assert oai.pending == 0
    rows = await api.ledger(turn["id"])
    assert ledger_shape(rows) == [
        (0, "manager", None, "boss", "success"),
        (0, "manager", None, "boss", "success"),
        (1, "synthesis", None, "boss", "success"),
    ]
    await api.check_accounting(turn, rows)
