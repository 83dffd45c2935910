"""Turns over HTTP on real PostgreSQL: modes, failures, idempotency, concurrency and the ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import psycopg
from litestar.testing import AsyncTestClient

from domain.pricing import price_call
from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session, pricing_of

FAIL = "<<pantheon-sim:fail>>"


async def council(
    client: AsyncTestClient, *keys: str, mode: str = "manual", failing: tuple[str, ...] = ()
) -> tuple[dict[str, str], str, str]:
    headers = await auth_headers(client)
    room = await create_room(client, headers, mode=mode, goal="Choose a database")
    for key in keys:
        prompt = f"You are {key}." + (f" {FAIL}" if key in failing else "")
        await add_agent(client, headers, room["id"], key, role_prompt=prompt)
    session = await open_session(client, headers, room["id"])
    return headers, room["id"], session["id"]


async def send(
    client: AsyncTestClient, headers: dict[str, str], session_id: str, message: str, **extra_headers: str
) -> Any:
    return await client.post(
        f"{API}/sessions/{session_id}/turns", json={"message": message}, headers={**headers, **extra_headers}
    )


async def ledger(client: AsyncTestClient, headers: dict[str, str], **query: str) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/usage/events", params={"limit": "500", **query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_manual_turn_with_two_tagged_agents(client: AsyncTestClient) -> None:
    headers, _, session = await council(client, "ada", "bob", "cy")
    response = await send(client, headers, session, "@cy and @ada, which one? (not bob@example.com)")
    assert response.status_code == 201, response.text
    turn = response.json()
    assert (turn["mode"], turn["status"], turn["turn_index"]) == ("manual", "completed", 0)
    assert [(s["index"], s["agent_key"], s["status"], s["kind"]) for s in turn["steps"]] == [
        (0, "cy", "completed", "agent"),
        (1, "ada", "completed", "agent"),
    ]
    assert all(s["content"] and s["error"] is None for s in turn["steps"])
    rows = await ledger(client, headers, turn_id=turn["id"])
    assert [(r["step_index"], r["agent_key"], r["status"]) for r in rows] == [
        (0, "cy", "success"),
        (1, "ada", "success"),
    ]
    assert turn["usage"]["llm_calls"] == 2
    assert Decimal(turn["usage"]["credits"]) == sum(Decimal(r["credits_burned"]) for r in rows)
    assert turn["usage"]["input_tokens"] == sum(r["input_tokens_fresh"] + r["input_tokens_cached"] for r in rows)
    assert (await client.get(f"{API}/sessions/{session}/turns/{turn['id']}", headers=headers)).json() == turn
    messages = (await client.get(f"{API}/sessions/{session}/messages", headers=headers)).json()["items"]
    assert [(m["role"], m["agent_key"], m["status"]) for m in messages] == [
        ("user", None, "ok"),
        ("assistant", "cy", "ok"),
        ("assistant", "ada", "ok"),
    ]


async def test_roundtable_with_a_failing_agent_is_partial(client: AsyncTestClient) -> None:
    headers, _, session = await council(client, "ada", "bob", "cy", mode="roundtable", failing=("bob",))
    turn = (await send(client, headers, session, "Postgres or SQLite?")).json()
    assert turn["status"] == "partial"
    assert [(s["agent_key"], s["status"]) for s in turn["steps"]] == [
        ("ada", "completed"),
        ("bob", "failed"),
        ("cy", "completed"),
    ]
    assert turn["steps"][1]["error"]["code"] == "simulated_failure" and turn["steps"][1]["content"] == ""
    rows = await ledger(client, headers, turn_id=turn["id"])
    assert [(r["agent_key"], r["status"]) for r in rows] == [("ada", "success"), ("bob", "error"), ("cy", "success")]
    assert len({r["call_id"] for r in rows}) == 3
    messages = (await client.get(f"{API}/sessions/{session}/messages", headers=headers)).json()["items"]
    assert [m["status"] for m in messages] == ["ok", "ok", "error", "ok"]


async def test_every_ledger_row_recomputes_from_its_pricing_version(client: AsyncTestClient) -> None:
    headers, _, session = await council(client, "ada", "bob", mode="roundtable")
    await send(client, headers, session, "first")
    await send(client, headers, session, "second, with history")
    pricing = await pricing_of(client, headers, "2026-02-20")
    rows = await ledger(client, headers, session_id=session)
    assert len(rows) == 4
    for row in rows:
        charge = price_call(
            pricing, row["model_alias"], row["input_tokens_fresh"], row["input_tokens_cached"], row["output_tokens"]
        )
        assert row["pricing_version"] == "2026-02-20"
        assert (Decimal(row["oe_tokens"]), Decimal(row["credits_burned"]), Decimal(row["provider_cost_usd"])) == (
            charge.oe_tokens,
            charge.credits_burned,
            charge.provider_cost_usd,
        )
        assert row["total_tokens"] == row["input_tokens_fresh"] + row["input_tokens_cached"] + row["output_tokens"]
        assert isinstance(row["credits_burned"], str) and "E" not in row["provider_cost_usd"]


async def test_turn_errors_write_nothing(client: AsyncTestClient) -> None:
    headers, _room, session = await council(client, "ada")
    assert_error(await send(client, headers, session, "hello @nobody"), 422, "no_valid_tag")
    assert_error(await send(client, headers, session, "x" * 50_001), 422, "validation_error")
    assert_error(
        await client.post(f"{API}/sessions/{session}/turns", json={"message": "@ada", "x": 1}, headers=headers),
        422,
        "validation_error",
    )
    empty_headers, _, empty_session = await council(client)
    assert_error(await send(client, empty_headers, empty_session, "@ada hi"), 422, "no_agents")
    assert (await client.get(f"{API}/sessions/{session}", headers=headers)).json()["turn_count"] == 0
    assert (await client.get(f"{API}/sessions/{session}/turns", headers=headers)).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert await ledger(client, headers) == []


async def test_pending_mode_takes_effect_at_next_turn(client: AsyncTestClient) -> None:
    headers, room, session = await council(client, "ada", "bob")
    changed = (await client.put(f"{API}/rooms/{room}/mode", json={"mode": "roundtable"}, headers=headers)).json()
    assert (changed["current_mode"], changed["pending_mode"]) == ("manual", "roundtable")
    turn = (await send(client, headers, session, "no tags")).json()
    assert turn["mode"] == "roundtable" and len(turn["steps"]) == 2
    room_now = (await client.get(f"{API}/rooms/{room}", headers=headers)).json()
    assert (room_now["current_mode"], room_now["pending_mode"]) == ("roundtable", None)


async def test_idempotency_key(client: AsyncTestClient) -> None:
    headers, room, session = await council(client, "ada")
    first = await send(client, headers, session, "@ada hi", **{"Idempotency-Key": "k-1"})
    replay = await send(client, headers, session, "@ada hi", **{"Idempotency-Key": "k-1"})
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert_error(
        await send(client, headers, session, "@ada other", **{"Idempotency-Key": "k-1"}), 409, "idempotency_conflict"
    )
    other_session = (await open_session(client, headers, room))["id"]
    assert_error(
        await send(client, headers, other_session, "@ada hi", **{"Idempotency-Key": "k-1"}), 409, "idempotency_conflict"
    )
    assert_error(
        await send(client, headers, session, "nobody tagged", **{"Idempotency-Key": "k-2"}), 422, "no_valid_tag"
    )
    assert (await send(client, headers, session, "@ada now", **{"Idempotency-Key": "k-2"})).status_code == 201
    assert_error(
        await send(client, headers, session, "@ada", **{"Idempotency-Key": "k" * 201}), 422, "validation_error"
    )
    assert len(await ledger(client, headers)) == 2


async def test_fifty_concurrent_sends_to_one_session(client: AsyncTestClient, database_url: str) -> None:
    headers, _, session = await council(client, "ada", "bob", mode="roundtable")
    responses = await asyncio.gather(*(send(client, headers, session, f"message {i}") for i in range(50)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) >= 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "turn_in_progress"
    turns = (await client.get(f"{API}/sessions/{session}/turns", headers=headers)).json()["items"]
    assert [t["turn_index"] for t in turns] == list(range(statuses.count(201)))
    assert all(t["status"] == "completed" for t in turns)
    with psycopg.connect(database_url) as conn:
        steps, rows, distinct, summary_rows, summaries = conn.execute(
            "SELECT (SELECT count(*) FROM turn_steps st JOIN turns t ON t.id = st.turn_id WHERE t.session_id = %s),"
            " count(*) FILTER (WHERE purpose <> 'summary'), count(DISTINCT call_id),"
            " count(*) FILTER (WHERE purpose = 'summary'),"
            " (SELECT count(*) FROM session_summaries WHERE session_id = %s)"
            " FROM llm_call_events WHERE session_id = %s",
            (session, session, session),
        ).fetchone()
    assert steps == rows == 2 * len(turns)
    # Every 8 turns the session is summarised first: one more call, paid once, belonging to no step.
    assert summary_rows == summaries == (len(turns) - 1) // 8
    assert distinct == rows + summary_rows


async def test_usage_summary_and_pagination_and_deleted_rooms(client: AsyncTestClient) -> None:
    headers, room, session = await council(client, "ada", "bob", mode="roundtable")
    for i in range(3):
        await send(client, headers, session, f"round {i}")
    first = (await client.get(f"{API}/usage/events", params={"limit": "4"}, headers=headers)).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    rest = (
        await client.get(f"{API}/usage/events", params={"limit": "4", "cursor": first["next_cursor"]}, headers=headers)
    ).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None
    ids = [r["id"] for r in first["items"] + rest["items"]]
    assert len(set(ids)) == 6
    assert_error(
        await client.get(f"{API}/usage/events", params={"cursor": "garbage!"}, headers=headers), 422, "validation_error"
    )
    assert_error(
        await client.get(f"{API}/usage/events", params={"limit": "0"}, headers=headers), 422, "validation_error"
    )
    by_model = (await client.get(f"{API}/usage/summary", headers=headers)).json()["items"]
    assert [(i["key"], i["llm_calls"]) for i in by_model] == [("sim", 6)]
    all_rows = first["items"] + rest["items"]
    assert Decimal(by_model[0]["credits"]) == sum(Decimal(r["credits_burned"]) for r in all_rows)
    by_day = (await client.get(f"{API}/usage/summary", params={"group_by": "day"}, headers=headers)).json()["items"]
    assert len(by_day) == 1 and len(by_day[0]["key"]) == 10
    assert (await client.delete(f"{API}/rooms/{room}", headers=headers)).status_code == 204
    assert_error(await client.get(f"{API}/sessions/{session}/turns", headers=headers), 404, "not_found")
    by_room = (await client.get(f"{API}/usage/summary", params={"group_by": "room"}, headers=headers)).json()["items"]
    assert [(i["key"], i["llm_calls"]) for i in by_room] == [(room, 6)]
    assert len(await ledger(client, headers)) == 6
    assert_error(
        await client.get(f"{API}/usage/summary", params={"group_by": "planet"}, headers=headers),
        422,
        "validation_error",
    )


async def test_other_users_cannot_see_turns_or_ledger(client: AsyncTestClient) -> None:
    headers, _, session = await council(client, "ada")
    turn = (await send(client, headers, session, "@ada secret")).json()
    intruder = await auth_headers(client, "intruder")
    assert_error(await client.get(f"{API}/sessions/{session}/turns/{turn['id']}", headers=intruder), 404, "not_found")
    assert_error(await client.get(f"{API}/sessions/{session}/turns", headers=intruder), 404, "not_found")
    assert_error(await send(client, intruder, session, "@ada hi"), 404, "not_found")
    assert await ledger(client, intruder) == []
    assert await ledger(client, intruder, turn_id=turn["id"]) == []


async def test_roster_changes_during_a_turn_apply_to_the_next_one(database_url: str) -> None:
    from tests.e2e.conftest import build_client

    async with build_client(database_url, sim_slow_chunk_delay_s=0.02) as slow:
        headers = await auth_headers(slow)
        room = await create_room(slow, headers, mode="roundtable")
        ada = await add_agent(slow, headers, room["id"], "ada", model="sim-slow")
        await add_agent(slow, headers, room["id"], "bob", model="sim-slow")
        session = (await open_session(slow, headers, room["id"]))["id"]
        running = asyncio.ensure_future(send(slow, headers, session, "go"))
        await asyncio.sleep(0.1)
        assert (await slow.delete(f"{API}/rooms/{room['id']}/agents/{ada['id']}", headers=headers)).status_code == 204
        await add_agent(slow, headers, room["id"], "cy")
        await slow.put(f"{API}/rooms/{room['id']}/mode", json={"mode": "manual"}, headers=headers)
        turn = (await running).json()
        assert (turn["mode"], [s["agent_key"] for s in turn["steps"]]) == ("roundtable", ["ada", "bob"])
        assert_error(await send(slow, headers, session, "@ada are you there?"), 422, "no_valid_tag")
        nxt = (await send(slow, headers, session, "@cy and @bob")).json()
        assert (nxt["mode"], [s["agent_key"] for s in nxt["steps"]]) == ("manual", ["cy", "bob"])


async def test_each_call_writes_one_context_audit_row_with_its_history(client: AsyncTestClient) -> None:
    headers, _, session = await council(client, "ada", "bob", mode="roundtable")
    turns = [(await send(client, headers, session, f"message {i}")).json() for i in range(3)]
    for index, turn in enumerate(turns):
        reply = await client.get(f"{API}/sessions/{session}/turns/{turn['id']}/context", headers=headers)
        assert reply.status_code == 200
        rows = reply.json()["items"]
        assert [(r["step_index"], r["model"]) for r in rows] == [(0, "sim"), (1, "sim")]
        assert [r["history_turns"] for r in rows] == [index, index]  # earlier turns of the session are in context
        assert all(r["context_window"] > r["input_budget"] > r["estimated_tokens_after"] > 0 for r in rows)
        assert all(r["estimated_tokens_before"] == r["estimated_tokens_after"] and r["actions"] == [] for r in rows)
        # bob reads ada's answer of this turn: his prompt is the longer one.
        assert rows[1]["estimated_tokens_after"] > rows[0]["estimated_tokens_after"]


async def test_prompts_and_messages_stay_out_of_the_logs(client: AsyncTestClient, caplog) -> None:
    import logging

    from entrypoints.logs import JsonFormatter

    caplog.set_level(logging.INFO)
    headers = await auth_headers(client)
    room = await create_room(client, headers, mode="roundtable")
    await add_agent(client, headers, room["id"], "ada", role_prompt="SECRET-ROLE-7731 you are precise.")
    await add_agent(client, headers, room["id"], "bob", role_prompt=f"SECRET-ROLE-9912 {FAIL}")
    session = (await open_session(client, headers, room["id"]))["id"]
    turn = (await send(client, headers, session, "SECRET-MESSAGE-4420 please")).json()
    assert turn["status"] == "partial"
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert lines, "the turn should have logged something (requests, the failed step)"
    for secret in ("SECRET-ROLE-7731", "SECRET-ROLE-9912", "SECRET-MESSAGE-4420"):
        assert not any(secret in line for line in lines), secret
