"""Session memory over HTTP on PostgreSQL: a long session on a small-window model is summarised (a
paid, exactly priced ledger row of its turn), GET …/summary and …/turns/{id}/context show what each
call saw, a fact of the first turn survives its folding, and a message too big fails up front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from domain.budget import compute_budget
from domain.pricing import price_call
from tests.e2e.conftest import (
    API,
    ISOLATED_ENV,
    add_agent,
    assert_error,
    auth_headers,
    build_client,
    create_room,
    open_session,
    pricing_of,
)

CONFIG = """
[models.sim-small]
provider = "simulated"
provider_model = "pantheon-sim"
context_window = 4096
"""
SMALL_BUDGET = compute_budget(4096).input_budget
FACT = "Fact: the launch code is AMBER-7."


@pytest.fixture(scope="module")
async def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncTestClient]:
    path: Path = tmp_path_factory.mktemp("memory") / "pantheon.toml"
    path.write_text(CONFIG)
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        async with build_client(database_url, config_path=str(path)) as test_client:
            yield test_client


async def council(client: AsyncTestClient, model: str = "sim-small") -> tuple[dict[str, str], str]:
    headers = await auth_headers(client)
    room = await create_room(client, headers, mode="roundtable")
    for key in ("ada", "bob"):
        await add_agent(client, headers, room["id"], key, model=model)
    return headers, (await open_session(client, headers, room["id"]))["id"]


async def talk(client: AsyncTestClient, headers: dict[str, str], session: str, message: str) -> dict[str, Any]:
    response = await client.post(f"{API}/sessions/{session}/turns", json={"message": message}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_long_session_is_summarised_and_shows_why_each_call_saw_what_it_saw(client: AsyncTestClient) -> None:
    headers, session = await council(client)
    assert_error(await client.get(f"{API}/sessions/{session}/summary", headers=headers), 404, "not_found")
    turns = [await talk(client, headers, session, FACT)]
    while (await client.get(f"{API}/sessions/{session}/summary", headers=headers)).status_code == 404:
        assert len(turns) < 8, "the budget threshold should have fired before the 8-turn one"
        turns.append(await talk(client, headers, session, f"Point {len(turns)}: which risk should we weigh next?"))
    summary = (await client.get(f"{API}/sessions/{session}/summary", headers=headers)).json()
    writer = turns[-1]
    assert summary["session_id"] == session and summary["turn_id"] == writer["id"]
    assert 0 <= summary["through_turn_index"] < writer["turn_index"]
    assert FACT in summary["key_facts"] and summary["summary_text"]
    assert set(summary) >= {"decisions", "open_questions", "action_items", "created_at"}

    # The summary call is a ledger row of the turn that wrote it: no step, purpose summary, exact credits.
    rows = (await client.get(f"{API}/usage/events?turn_id={writer['id']}", headers=headers)).json()["items"]
    [row] = [r for r in rows if r["purpose"] == "summary"]
    assert (row["step_index"], row["agent_key"], row["model_alias"], row["status"]) == (None, None, "sim", "success")
    pricing = await pricing_of(client, headers, row["pricing_version"])
    expected = price_call(pricing, "sim", row["input_tokens_fresh"], row["input_tokens_cached"], row["output_tokens"])
    assert row["credits_burned"] == str(expected.credits_burned) and row["oe_tokens"] == str(expected.oe_tokens)
    assert writer["usage"]["llm_calls"] == len(rows) == 3  # two agents and the summary
    total = sum(int(r["input_tokens_fresh"]) + int(r["input_tokens_cached"]) for r in rows)
    assert writer["usage"]["input_tokens"] == total

    context = await client.get(f"{API}/sessions/{session}/turns/{writer['id']}/context", headers=headers)
    assert context.status_code == 200
    calls = context.json()["items"]
    assert [(c["step_index"], c["model"]) for c in calls] == [(None, "sim"), (0, "sim-small"), (1, "sim-small")]
    for call in calls[1:]:
        assert call["context_window"] == 4096 and call["input_budget"] == SMALL_BUDGET
        assert "summarized" in call["actions"]
        assert call["estimated_tokens_after"] < call["estimated_tokens_before"]
        assert call["estimated_tokens_after"] <= SMALL_BUDGET


async def test_a_fact_of_the_first_turn_is_recalled_after_it_was_folded(client: AsyncTestClient) -> None:
    headers, session = await council(client)
    await talk(client, headers, session, FACT)
    for i in range(1, 12):
        await talk(client, headers, session, f"Point {i}: which risk should we weigh next, and why?")
    summary = (await client.get(f"{API}/sessions/{session}/summary", headers=headers)).json()
    assert summary["through_turn_index"] >= 1  # turn 0 is folded: only the summary holds the fact
    answer = await talk(client, headers, session, "Please recall what you were told about the launch.")
    assert all("AMBER-7" in step["content"] for step in answer["steps"])


async def test_memory_routes_answer_404_for_other_users_and_unknown_turns(client: AsyncTestClient) -> None:
    headers, session = await council(client)
    turn = await talk(client, headers, session, "Hello")
    stranger = await auth_headers(client, "stranger")
    for path in (f"/sessions/{session}/summary", f"/sessions/{session}/turns/{turn['id']}/context"):
        assert_error(await client.get(f"{API}{path}", headers=stranger), 404, "not_found")
    other_turn = "00000000-0000-4000-8000-000000000000"
    unknown = await client.get(f"{API}/sessions/{session}/turns/{other_turn}/context", headers=headers)
    assert_error(unknown, 404, "not_found")
    assert_error(await client.get(f"{API}/sessions/nope/summary", headers=headers), 404, "not_found")


async def test_a_message_too_big_for_the_model_is_refused_before_anything_is_written(client: AsyncTestClient) -> None:
    headers, session = await council(client)
    response = await client.post(
        f"{API}/sessions/{session}/turns", json={"message": "word " * 2500}, headers=headers
    )
    error = assert_error(response, 422, "context_budget_exceeded")
    assert error["extra"]["input_budget"] == SMALL_BUDGET and error["extra"]["required_tokens"] > SMALL_BUDGET
    assert (await client.get(f"{API}/sessions/{session}/turns", headers=headers)).json()["items"] == []
    assert (await client.get(f"{API}/usage/events?session_id={session}", headers=headers)).json()["items"] == []
