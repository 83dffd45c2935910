"""Session summaries written by a real HTTP provider: the whole app, with PANTHEON_SUMMARY_MODEL on a
loopback OpenAI-compatible server (structured output by JSON schema) or a loopback Anthropic server
(a forced tool). The summary is decoded, stored, pinned in the next agents' system message and billed
as a stepless `summary` row priced like any call; a provider failure leaves the turn whole."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from domain.memory import SUMMARY_SCHEMA
from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import Api, model_table, provider_app, provider_table, system_text
from tests.support.llm_servers import FakeUsage, json_reply

ENV = {"PANTHEON_TEST_OAI_KEY": "oai-summary-key-7f8e9d", "PANTHEON_TEST_ANTH_KEY": "anth-summary-key-1c2b3a"}
MEMO_PRICES = {"multiplier": "2", "input_usd_per_mtok": "1.00", "output_usd_per_mtok": "4.00"}
SUMMARY = {
    "summary_text": "The council is planning a launch; the user set a code and asked about risks.",
    "key_facts": ["Fact: the launch code is AMBER-7."],
    "decisions": ["Launch on a Tuesday."],
    "open_questions": ["Who holds the backup key?"],
    "action_items": ["Write the runbook."],
}
JSON_SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "session_summary", "schema": SUMMARY_SCHEMA, "strict": True},
}


@pytest.fixture(scope="module", params=["openai", "anthropic"])
async def api(
    request: pytest.FixtureRequest, database_url: str, loopback: Loopback, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    settings = {"timeout_s": 5, "max_retries": 0}
    config = (
        provider_table("oai", loopback.openai, "PANTHEON_TEST_OAI_KEY", **settings)
        + provider_table("anth", loopback.anthropic, "PANTHEON_TEST_ANTH_KEY", **settings)
        + model_table("memo", "oai" if request.param == "openai" else "anth", "memo-loopback", **MEMO_PRICES)
        + model_table("gpt-loop", "oai", "gpt-4.1-loopback")
    )
    folder = tmp_path_factory.mktemp("summaries")
    async with provider_app(database_url, folder, config, ENV, summary_model="memo") as running:
        running.kind = request.param  # type: ignore[attr-defined]
        yield running


AGENT = ("gpt", "gpt-loop", "You are a terse systems engineer.")


async def eight_turns(api: Api, loopback: Loopback) -> str:
    oai = loopback.openai
    oai.script(*[oai.kit.stream([f"Answer {i}."], usage=FakeUsage(input=100, output=5)) for i in range(8)])
    session = await api.roundtable(AGENT)
    for i in range(8):
        await api.turn(session, "Fact: the launch code is AMBER-7." if i == 0 else f"Risk {i}?")
    assert oai.pending == 0
    oai.reset()
    return session


async def test_the_eighth_turn_is_summarised_by_the_provider_and_its_agents_read_it(
    api: Api, loopback: Loopback
) -> None:
    session = await eight_turns(api, loopback)
    server = loopback.of(api.kind)  # type: ignore[attr-defined]
    oai = loopback.openai
    usage = FakeUsage(input=900, output=120)
    if api.kind == "openai":  # type: ignore[attr-defined]
        server.script(server.kit.stream([json.dumps(SUMMARY)], usage=usage))
    else:
        server.script(server.kit.tool_stream("session_summary", [json.dumps(SUMMARY)], usage=usage))
    oai.script(oai.kit.stream(["Answer 8."], usage=FakeUsage(input=300, output=5)))

    turn = await api.turn(session, "Risk 8?")

    assert turn["status"] == "completed" and turn["steps"][0]["content"] == "Answer 8."
    summary = await api.call("GET", f"/sessions/{session}/summary", expect=200)
    assert {k: summary[k] for k in SUMMARY} == SUMMARY
    assert (summary["through_turn_index"], summary["turn_id"]) == (3, turn["id"])
    memo_call = next(r for r in server.requests if r.json()["model"] == "memo-loopback")
    body = memo_call.json()
    if api.kind == "openai":  # type: ignore[attr-defined]
        assert body["response_format"] == JSON_SCHEMA_FORMAT
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "session_summary"}
        assert body["tools"][0]["input_schema"] == SUMMARY_SCHEMA
    assert "Fact: the launch code is AMBER-7." in json.dumps(body)  # turn 0 is among the folded turns
    agent_call = next(r for r in oai.requests if r.json()["model"] == "gpt-4.1-loopback")
    assert "Fact: the launch code is AMBER-7." in system_text(agent_call)  # pinned in the system message

    rows = await api.ledger(turn["id"])
    assert [(r["purpose"], r["step_index"], r["model_alias"], r["status"]) for r in rows] == [
        ("summary", None, "memo", "success"),
        ("agent", 0, "gpt-loop", "success"),
    ]
    # memo is priced by the config: 0.35 × 900 + 120 = 435 OE; × 2 / 10,000 = 0.0870 credits; $1 + $4 per Mtok.
    assert [rows[0][f] for f in ("oe_tokens", "credits_burned", "provider_cost_usd")] == [
        "435.0000",
        "0.0870",
        "0.00138000",
    ]
    await api.check_accounting(turn, rows)


async def test_a_provider_failure_leaves_no_summary_and_the_turn_whole(api: Api, loopback: Loopback) -> None:
    session = await eight_turns(api, loopback)
    server, oai = loopback.of(api.kind), loopback.openai  # type: ignore[attr-defined]
    server.script(json_reply(server.kit.error_body("api_error", "upstream exploded"), status=500))
    oai.script(oai.kit.stream(["Answer 8."], usage=FakeUsage(input=300, output=5)))

    turn = await api.turn(session, "Risk 8?")

    assert turn["status"] == "completed" and turn["steps"][0]["content"] == "Answer 8."
    await api.call("GET", f"/sessions/{session}/summary", expect=404)
    rows = await api.ledger(turn["id"])
    assert [(r["purpose"], r["status"]) for r in rows] == [("summary", "error"), ("agent", "success")]
    assert turn["usage"]["llm_calls"] == 2
