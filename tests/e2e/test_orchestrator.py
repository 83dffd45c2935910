"""Orchestrator turns over HTTP on real PostgreSQL with the simulated manager: the steps a user sees
(manager decisions, agents with their instruction, one synthesis), its events, its ledger rows, and
the fallback when the manager cannot decide."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar.testing import AsyncTestClient

from domain.pricing import price_call
from tests.e2e.conftest import API, add_agent, auth_headers, create_room, open_session, pricing_of
from tests.e2e.test_streaming import STREAM, check_stream, parse_sse
from tests.e2e.test_turns import ledger, send

FAIL = "<<pantheon-sim:fail>>"
MESSAGE = "@architect, sketch it; @skeptic, poke holes; then @architect again to answer the skeptic."


async def council(
    client: AsyncTestClient, goal: str = "Ship a cache", failing: tuple[str, ...] = ()
) -> tuple[dict[str, str], str]:
    headers = await auth_headers(client)
    room = await create_room(client, headers, mode="orchestrator", goal=goal)
    for key in ("architect", "skeptic", "scribe"):
        prompt = f"You are the {key}." + (f" {FAIL}" if key in failing else "")
        await add_agent(client, headers, room["id"], key, role_prompt=prompt)
    return headers, (await open_session(client, headers, room["id"]))["id"]


def shape(turn: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(s["kind"], s["agent_key"], s["status"]) for s in turn["steps"]]


async def test_the_manager_calls_two_agents_one_twice_and_synthesises(client: AsyncTestClient) -> None:
    headers, session = await council(client)
    response = await send(client, headers, session, MESSAGE)
    assert response.status_code == 201, response.text
    turn = response.json()
    assert (turn["mode"], turn["status"], turn["orchestration"]) == ("orchestrator", "completed", {"fallback": False})
    assert shape(turn) == [
        ("manager", None, "completed"),
        ("agent", "architect", "completed"),
        ("manager", None, "completed"),
        ("agent", "skeptic", "completed"),
        ("manager", None, "completed"),
        ("agent", "architect", "completed"),
        ("manager", None, "completed"),
        ("synthesis", None, "completed"),
    ]
    managers = [s for s in turn["steps"] if s["kind"] == "manager"]
    assert [m["decision"]["action"] for m in managers] == ["call_agent"] * 3 + ["finish"]
    assert managers[0]["decision"] == {
        "action": "call_agent",
        "agent_key": "architect",
        "instruction": managers[0]["decision"]["instruction"],
    }
    assert managers[-1]["decision"] == {"action": "finish", "reason": "Every agent asked has answered."}
    assert all(m["agent_name"] == "Manager" and m["model"] == "sim" and "instruction" not in m for m in managers)
    assert managers[1]["content"] == f"Asked skeptic: {managers[1]['decision']['instruction']}"
    agents = [s for s in turn["steps"] if s["kind"] == "agent"]
    assert [a["instruction"] for a in agents] == [m["decision"]["instruction"] for m in managers[:3]]
    assert all("decision" not in a for a in agents) and turn["steps"][-1]["content"]

    # Every call is a ledger row with its purpose, and recomputes exactly from its pricing version.
    rows = await ledger(client, headers, turn_id=turn["id"])
    assert [(r["step_index"], r["purpose"], r["agent_key"]) for r in rows] == [
        (s["index"], s["kind"], s["agent_key"]) for s in turn["steps"]
    ]
    pricing = await pricing_of(client, headers, "2026-02-20")
    for row, step in zip(rows, turn["steps"], strict=True):
        fresh, cached, output = row["input_tokens_fresh"], row["input_tokens_cached"], row["output_tokens"]
        charge = price_call(pricing, row["model_alias"], fresh, cached, output).credits_burned
        assert Decimal(row["credits_burned"]) == charge == Decimal(step["usage"]["credits"])
    assert Decimal(turn["usage"]["credits"]) == sum(Decimal(r["credits_burned"]) for r in rows)
    assert turn["usage"]["llm_calls"] == 8

    # The conversation shows the answers and the synthesis, not the manager's routing.
    messages = (await client.get(f"{API}/sessions/{session}/messages", headers=headers)).json()["items"]
    assert [(m["role"], m["agent_key"], m["agent_name"]) for m in messages] == [
        ("user", None, None),
        ("assistant", "architect", "Architect"),
        ("assistant", "skeptic", "Skeptic"),
        ("assistant", "architect", "Architect"),
        ("assistant", None, "Manager"),
    ]


async def test_an_orchestrated_turn_streams_like_the_others(client: AsyncTestClient) -> None:
    headers, session = await council(client)
    response = await client.post(
        f"{API}/sessions/{session}/turns", json={"message": "@skeptic only"}, headers={**headers, **STREAM}
    )
    events = parse_sse(response.text)
    turn = events[-1]["data"]["turn"]
    check_stream(events, turn["id"])
    started = [e["data"] for e in events if e["event"] == "step_started"]
    assert [(s["index"], s["kind"], s["agent_key"], s["agent_name"], s["model"]) for s in started] == [
        (0, "manager", None, "Manager", "sim"),
        (1, "agent", "skeptic", "Skeptic", "sim"),
        (2, "manager", None, "Manager", "sim"),
        (3, "synthesis", None, "Manager", "sim"),
    ]
    streamed = {e["data"]["index"] for e in events if e["event"] == "step_delta"}
    assert streamed == {1, 3}  # answers stream; the manager's decisions do not
    completed = {e["data"]["index"]: e["data"] for e in events if e["event"] == "step_completed"}
    assert (
        "".join(e["data"]["text"] for e in events if e["event"] == "step_delta" and e["data"]["index"] == 3)
        == (completed[3]["content"])
    )


async def test_a_manager_repaired_once_per_decision_still_routes(client: AsyncTestClient) -> None:
    headers, session = await council(client, goal="Ship a cache <<pantheon-sim:bad-decision>>")
    turn = (await send(client, headers, session, "@scribe, write it down")).json()
    assert shape(turn) == [
        ("manager", None, "completed"),
        ("agent", "scribe", "completed"),
        ("manager", None, "completed"),
        ("synthesis", None, "completed"),
    ]
    assert turn["orchestration"] == {"fallback": False}
    rows = await ledger(client, headers, turn_id=turn["id"])
    assert [(r["step_index"], r["purpose"]) for r in rows] == [
        (0, "manager"),
        (0, "manager"),  # the free-text answer, then its repair
        (1, "agent"),
        (2, "manager"),
        (2, "manager"),
        (3, "synthesis"),
    ]
    assert turn["usage"]["llm_calls"] == 6


async def test_a_manager_that_cannot_decide_falls_back_to_synthesising_what_exists(client: AsyncTestClient) -> None:
    headers, session = await council(client, goal="Ship a cache <<pantheon-sim:bad-decisions>>")
    turn = (await send(client, headers, session, "@architect go")).json()
    assert shape(turn) == [("manager", None, "failed"), ("synthesis", None, "completed")]
    fallen = turn["steps"][0]
    assert fallen["error"]["code"] == "invalid_decision" and fallen["decision"]["action"] == "finish"
    assert turn["orchestration"]["fallback"] is True and turn["orchestration"]["reason"] == fallen["error"]["detail"]
    assert turn["status"] == "partial"
    rows = await ledger(client, headers, turn_id=turn["id"])
    assert [r["purpose"] for r in rows] == ["manager", "manager", "synthesis"]


async def test_a_failing_agent_is_shown_and_the_turn_carries_on(client: AsyncTestClient) -> None:
    headers, session = await council(client, failing=("skeptic",))
    turn = (await send(client, headers, session, "@skeptic then @scribe")).json()
    assert shape(turn) == [
        ("manager", None, "completed"),
        ("agent", "skeptic", "failed"),
        ("manager", None, "completed"),
        ("agent", "scribe", "completed"),
        ("manager", None, "completed"),
        ("synthesis", None, "completed"),
    ]
    assert turn["status"] == "partial" and turn["orchestration"] == {"fallback": False}
    assert turn["steps"][1]["error"]["code"] == "simulated_failure"
