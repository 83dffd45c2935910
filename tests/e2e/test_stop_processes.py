"""Stopping a turn with real server processes sharing one database: a stop received by another process
than the one running the turn, and a server killed (-9) while a stop is under way."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import psycopg

from tests.support.server_process import Server, api_call

API = "/api/v1"


call = api_call


def slow_roundtable(server: Server, email: str) -> tuple[dict[str, str], str]:
    key = call(server, "POST", "/users", json={"email": email})["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    room = call(server, "POST", "/rooms", auth, json={"name": "Slow council", "mode": "roundtable"})
    for name in ("ada", "bob", "cy", "dee"):
        body = {"agent_key": name, "name": name.title(), "model": "sim-slow", "role_prompt": f"You are {name}."}
        call(server, "POST", f"/rooms/{room['id']}/agents", auth, json=body)
    return auth, call(server, "POST", f"/rooms/{room['id']}/sessions", auth, json={})["id"]


def start_turn(server: Server, auth: dict[str, str], session_id: str) -> threading.Thread:
    """POST the turn in a thread (the request lasts as long as the turn, or dies with its server)."""

    def post() -> None:
        try:
            httpx.post(
                f"{server.url}{API}/sessions/{session_id}/turns", json={"message": "Slowly."}, headers=auth, timeout=120
            )
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def talking_turn(database_url: str, session_id: str) -> str:
    """The session's turn once some text of its first step is stored."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT t.id FROM turns t JOIN turn_events e ON e.turn_id = t.id"
                " WHERE t.session_id = %s AND e.type = 'step_delta' LIMIT 1",
                (session_id,),
            ).fetchone()
        if row:
            return str(row[0])
        time.sleep(0.05)
    raise AssertionError("the turn never started talking")


def finished(server: Server, auth: dict[str, str], session_id: str, turn_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        turn = call(server, "GET", f"/sessions/{session_id}/turns/{turn_id}", auth)
        if turn["status"] != "running":
            return turn
        time.sleep(0.1)
    raise AssertionError("the turn never ended")


def test_a_stop_received_by_another_process_cuts_the_call_where_the_turn_runs(
    database_url: str, servers: list[Server]
) -> None:
    runner = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.1")
    receiver = Server(database_url)
    servers += [runner, receiver]
    auth, session_id = slow_roundtable(runner, "stop-elsewhere@example.com")
    request = start_turn(runner, auth, session_id)
    turn_id = talking_turn(database_url, session_id)

    answer = call(receiver, "POST", f"/sessions/{session_id}/turns/{turn_id}/stop", auth, json={"mode": "now"})
    assert answer["id"] == turn_id
    turn = finished(receiver, auth, session_id, turn_id)
    request.join(30)

    assert (turn["status"], turn["stop_reason"]) == ("stopped", "user")
    [step] = turn["steps"]
    assert (step["agent_key"], step["status"]) == ("ada", "stopped") and step["content"]  # partial text kept
    rows = call(receiver, "GET", "/usage/events", auth, params={"turn_id": turn_id})["items"]
    assert [(r["step_index"], r["status"], r["usage_estimated"]) for r in rows] == [(0, "cancelled", True)]


def test_a_server_killed_while_stopping_leaves_one_row_for_the_cut_call(
    database_url: str, servers: list[Server]
) -> None:
    # Heartbeats every 1/3 s, so that the other server adopts the dead one's turn about a second later.
    runner = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.1", PANTHEON_TURN_STALE_AFTER_S="1")
    servers.append(runner)
    auth, session_id = slow_roundtable(runner, "stop-killed@example.com")
    successor = Server(database_url, PANTHEON_TURN_STALE_AFTER_S="1")
    servers.append(successor)
    request = start_turn(runner, auth, session_id)
    turn_id = talking_turn(database_url, session_id)

    # The stop is stored by the other server; the one running the turn dies before it can finish it.
    call(successor, "POST", f"/sessions/{session_id}/turns/{turn_id}/stop", auth, json={"mode": "now"})
    runner.kill()
    request.join(30)

    turn = finished(successor, auth, session_id, turn_id)  # adopted, resumed, and stopped at once
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "user")
    assert all(s["agent_key"] == "ada" for s in turn["steps"])  # bob, cy and dee never ran
    rows = call(successor, "GET", "/usage/events", auth, params={"turn_id": turn_id})["items"]
    # The cut call, once: usually ledgered by the recovery (`cancelled_by_crash`, 0 credits), or by the
    # dying server itself if it acted on the stop first (billed); never both.
    assert [(r["step_index"], r["status"]) for r in rows] == [(0, "cancelled")]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM llm_call_intents WHERE turn_id = %s", (turn_id,)).fetchone()[0] == 0
    again = httpx.post(
        f"{successor.url}{API}/sessions/{session_id}/turns/{turn_id}/stop", json={"mode": "now"}, headers=auth
    )
    assert again.status_code == 409  # and a repeated stop bills nothing
    assert len(call(successor, "GET", "/usage/events", auth, params={"turn_id": turn_id})["items"]) == 1
