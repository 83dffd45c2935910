"""Caps per turn over HTTP (docs/http-api.md, Stopping a turn, and caps per turn): set on the room,
shown on it, validated, and stopping a turn as `after_step` with their reason."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, auth_headers, create_room, open_session

CAPS = ("max_credits_per_turn", "max_agent_calls_per_turn", "max_turn_seconds")


@pytest.fixture
async def headers(client: AsyncTestClient) -> dict[str, str]:
    return await auth_headers(client, "caps")


async def turn_of(
    client: AsyncTestClient, headers: dict[str, str], mode: str, keys: list[str], model: str = "sim", **caps: Any
) -> Any:
    room = await create_room(client, headers, mode=mode, **caps)
    for key in keys:
        await add_agent(client, headers, room["id"], key, model=model)
    session = await open_session(client, headers, room["id"])
    response = await client.post(f"{API}/sessions/{session['id']}/turns", json={"message": "Go."}, headers=headers)
    assert response.status_code == 201, response.text
    turn = response.json()
    rows = (await client.get(f"{API}/usage/events", params={"turn_id": turn["id"]}, headers=headers)).json()["items"]
    return turn, rows


async def test_caps_are_set_shown_changed_and_cleared_on_the_room(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    room = await create_room(client, headers)
    assert [room[c] for c in CAPS] == [None, None, None]
    capped = await create_room(
        client, headers, max_credits_per_turn="1.5", max_agent_calls_per_turn=4, max_turn_seconds=120
    )
    assert [capped[c] for c in CAPS] == ["1.5000", 4, 120]
    patched = await client.patch(
        f"{API}/rooms/{capped['id']}", json={"max_credits_per_turn": None, "max_turn_seconds": 30}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert [patched.json()[c] for c in CAPS] == [None, 4, 30]
    shown = (await client.get(f"{API}/rooms/{capped['id']}", headers=headers)).json()
    assert [shown[c] for c in CAPS] == [None, 4, 30]


@pytest.mark.parametrize(
    "body",
    [
        {"max_credits_per_turn": "0"},
        {"max_credits_per_turn": "-1"},
        {"max_credits_per_turn": "0.00001"},
        {"max_credits_per_turn": 1.5},
        {"max_credits_per_turn": "lots"},
        {"max_agent_calls_per_turn": 0},
        {"max_agent_calls_per_turn": 1001},
        {"max_agent_calls_per_turn": "3"},
        {"max_turn_seconds": 0},
        {"max_turn_seconds": 86_401},
        {"max_turn_seconds": 1.5},
    ],
)
async def test_bad_caps_are_refused(client: AsyncTestClient, headers: dict[str, str], body: dict[str, Any]) -> None:
    created = await client.post(f"{API}/rooms", json={"name": "r", **body}, headers=headers)
    assert created.status_code in (400, 422) and created.json()["code"] == "validation_error", created.text
    room = await create_room(client, headers)
    patched = await client.patch(f"{API}/rooms/{room['id']}", json=body, headers=headers)
    assert patched.status_code in (400, 422) and patched.json()["code"] == "validation_error", patched.text


async def test_the_credit_cap_holds_the_turns_ledger_credits_below_it(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    # Each sim answer burns about 0.01 credits; the worst case of a call (its prompt + 2048 output
    # tokens) about 0.21: after a few answers the next call would pass the cap, and is not started.
    turn, rows = await turn_of(
        client, headers, "roundtable", ["ada", "bob", "cy", "dee", "eve"], max_credits_per_turn="0.23"
    )
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "credit_cap")
    ran = [s["agent_key"] for s in turn["steps"]]
    assert 1 <= len(ran) < 5 and ran == ["ada", "bob", "cy", "dee", "eve"][: len(ran)]
    assert all(s["status"] == "completed" for s in turn["steps"])
    assert sorted(r["agent_key"] for r in rows) == sorted(ran)  # the others were never called
    spent = sum(Decimal(r["credits_burned"]) for r in rows)
    assert 0 < spent <= Decimal("0.23") and Decimal(turn["usage"]["credits"]) == spent


async def test_the_call_cap_ends_an_orchestrated_turn_with_a_synthesis(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    turn, rows = await turn_of(client, headers, "orchestrator", ["ada", "bob", "cy"], max_agent_calls_per_turn=2)
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "call_cap")
    assert [(s["kind"], s["agent_key"]) for s in turn["steps"]] == [
        ("manager", None),
        ("agent", "ada"),
        ("manager", None),
        ("agent", "bob"),
        ("synthesis", None),
    ]  # cy, whom the sim manager would call next, is not
    assert [r["purpose"] for r in rows] == ["manager", "agent", "manager", "agent", "synthesis"]


async def test_the_time_cap_lets_the_slow_step_in_flight_finish(
    client: AsyncTestClient, headers: dict[str, str]
) -> None:
    # sim-slow takes over a second per answer (0.15 s a chunk): the second agent starts after the cap.
    turn, rows = await turn_of(
        client, headers, "roundtable", ["ada", "bob", "cy"], max_turn_seconds=1, model="sim-slow"
    )
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "time_cap")
    assert [(s["agent_key"], s["status"]) for s in turn["steps"]] == [("ada", "completed")]
    assert [r["status"] for r in rows] == ["success"]


async def test_a_turn_under_its_caps_completes_as_usual(client: AsyncTestClient, headers: dict[str, str]) -> None:
    turn, _ = await turn_of(
        client, headers, "roundtable", ["ada", "bob"], max_credits_per_turn="5", max_agent_calls_per_turn=2
    )
    assert (turn["status"], turn["stop_reason"]) == ("completed", None)
