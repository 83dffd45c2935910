"""Invariant 3 with real processes: kill a server in the middle of a slow roundtable, start another one,
and the turn finishes without calling again the agents whose steps were committed."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.server_process import Server, api_call
from tests.support.wallet import wallet_figures

API = "/api/v1"


call = api_call


def committed_steps(database_url: str, turn_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM turn_steps WHERE turn_id = %s", (turn_id,)).fetchone()[0]


@pytest.mark.parametrize("durability", ["exit", "sync"])
def test_killed_turn_resumes_on_the_next_server_without_rebilling(
    database_url: str, servers: list[Server], durability: str
) -> None:
    # `exit`: nothing checkpointed, the graph reruns and committed steps are read back from turn_steps;
    # `sync`: LangGraph resumes after the last checkpointed node.
    first = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.04", PANTHEON_TURN_DURABILITY=durability)
    servers.append(first)
    key = call(first, "POST", "/users", json={"email": f"resume-{durability}@example.com"})["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    room = call(first, "POST", "/rooms", auth, json={"name": "Slow council", "mode": "roundtable"})
    for name in ("ada", "bob", "cy", "dee"):
        call(
            first,
            "POST",
            f"/rooms/{room['id']}/agents",
            auth,
            json={"agent_key": name, "name": name.title(), "model": "sim-slow", "role_prompt": f"You are {name}."},
        )
    session = call(first, "POST", f"/rooms/{room['id']}/sessions", auth, json={})

    def kill_after_first_step() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(database_url) as conn:
                row = conn.execute(
                    "SELECT count(st.*) FROM turns t JOIN turn_steps st ON st.turn_id = t.id WHERE t.session_id = %s",
                    (session["id"],),
                ).fetchone()
            if row[0] >= 1:
                time.sleep(0.15)  # let step 1's call start, so a call is cut in flight
                first.kill()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_first_step)
    killer.start()
    try:
        with pytest.raises(httpx.HTTPError):  # the request dies with its server
            httpx.post(
                f"{first.url}{API}/sessions/{session['id']}/turns",
                json={"message": "slowly now"},
                headers=auth,
                timeout=60,
            )
    finally:
        killer.join()
    with psycopg.connect(database_url) as conn:
        turn_id, status = conn.execute(
            "SELECT id, status FROM turns WHERE session_id = %s", (session["id"],)
        ).fetchone()
    turn_id = str(turn_id)
    assert status == "running"
    done_before = committed_steps(database_url, turn_id)
    assert 1 <= done_before < 4

    second = Server(
        database_url,
        PANTHEON_TURN_STALE_AFTER_S="0.3",
        PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.01",
        PANTHEON_TURN_DURABILITY=durability,
    )
    servers.append(second)
    deadline = time.monotonic() + 60
    turn: dict[str, Any] = {}
    while time.monotonic() < deadline:
        turn = call(second, "GET", f"/sessions/{session['id']}/turns/{turn_id}", auth)
        if turn["status"] != "running":
            break
        time.sleep(0.1)
    assert turn["status"] == "completed", turn
    assert [s["agent_key"] for s in turn["steps"]] == ["ada", "bob", "cy", "dee"]

    rows = call(second, "GET", "/usage/events", auth, params={"turn_id": turn_id, "limit": "100"})["items"]
    successes = [r for r in rows if r["status"] == "success"]
    cancelled = [r for r in rows if r["status"] == "cancelled"]
    # Exactly one paid call per step: the committed ones were not called again.
    assert sorted(r["step_index"] for r in successes) == [0, 1, 2, 3]
    # The call cut by the crash is recorded, unbilled, with its estimated input.
    assert len(cancelled) == 1 and cancelled[0]["step_index"] == done_before
    assert cancelled[0]["credits_burned"] == "0.0000" and cancelled[0]["input_tokens_fresh"] > 0
    assert turn["usage"]["llm_calls"] == 5
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM llm_call_intents").fetchone()[0] == 0
    # Invariant 8 across the crash: one debit per billed row, the cut call unbilled, and no credits
    # left reserved once the second server has recovered the turn and swept.
    user_id = call(second, "GET", "/me", auth)["id"]
    deadline = time.monotonic() + 10
    while (wallet := wallet_figures(database_url, user_id)).reservations and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wallet.debited == wallet.burned == sum(Decimal(r["credits_burned"]) for r in rows)
    assert wallet.balance == wallet.transactions == 100 - wallet.burned
    assert (wallet.reservations, wallet.reserved) == (0, 0)
    # The session is usable again.
    # Its event stream, read from the second process, is whole: numbered without a gap, announced once,
    # ended once, each step completed once.
    stream = httpx.get(f"{second.url}{API}/sessions/{session['id']}/turns/{turn_id}/events", headers=auth, timeout=30)
    events = [
        line.split(": ", 1)[1] for line in stream.text.replace("\r\n", "\n").splitlines() if line.startswith("event: ")
    ]
    ids = [
        int(line.split(": ", 1)[1])
        for line in stream.text.replace("\r\n", "\n").splitlines()
        if line.startswith("id: ")
    ]
    assert ids == list(range(1, len(ids) + 1))
    assert events.count("turn_started") == 1 and events[-1] == "turn_completed"
    assert events.count("step_completed") == 4
    next_turn = call(second, "POST", f"/sessions/{session['id']}/turns", auth, json={"message": "and now?"})
    assert next_turn["turn_index"] == 1


def test_a_client_hanging_up_does_not_cut_the_turn(database_url: str, servers: list[Server]) -> None:
    server = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.03")
    servers.append(server)
    key = call(server, "POST", "/users", json={"email": "hangup@example.com"})["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    room = call(server, "POST", "/rooms", auth, json={"name": "r", "mode": "roundtable"})
    for name in ("ada", "bob"):
        call(
            server,
            "POST",
            f"/rooms/{room['id']}/agents",
            auth,
            json={"agent_key": name, "name": name, "model": "sim-slow", "role_prompt": "x"},
        )
    session = call(server, "POST", f"/rooms/{room['id']}/sessions", auth, json={})["id"]
    url = f"{server.url}{API}/sessions/{session}/turns"

    def hang_up_plain() -> None:
        with pytest.raises(httpx.TimeoutException):  # the client gives up long before the turn ends
            httpx.post(url, json={"message": "go"}, headers=auth, timeout=0.2)

    def hang_up_streamed() -> None:
        with httpx.stream(
            "POST", url, json={"message": "go"}, headers={**auth, "accept": "text/event-stream"}, timeout=10
        ) as response:
            assert next(response.iter_lines()).startswith("id:")  # read the first event, then leave

    for hang_up in (hang_up_plain, hang_up_streamed):
        hang_up()
        deadline = time.monotonic() + 30
        while (turns := call(server, "GET", f"/sessions/{session}/turns", auth)["items"])[-1]["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert turns[-1]["status"] == "completed" and len(turns[-1]["steps"]) == 2
        assert turns[-1]["usage"]["llm_calls"] == 2


def test_killed_orchestrator_turn_resumes_without_calling_a_committed_step_again(
    database_url: str, servers: list[Server]
) -> None:
    first = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.04")
    servers.append(first)
    key = call(first, "POST", "/users", json={"email": "resume-orchestrator@example.com"})["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    room = call(first, "POST", "/rooms", auth, json={"name": "Managed", "mode": "orchestrator", "manager_model": "sim"})
    for name in ("ada", "bob"):
        agent = {"agent_key": name, "name": name.title(), "model": "sim-slow", "role_prompt": f"You are {name}."}
        call(first, "POST", f"/rooms/{room['id']}/agents", auth, json=agent)
    session = call(first, "POST", f"/rooms/{room['id']}/sessions", auth, json={})

    def kill_after_the_first_answer() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(database_url) as conn:
                kinds = [
                    r[0]
                    for r in conn.execute(
                        "SELECT st.kind FROM turns t JOIN turn_steps st ON st.turn_id = t.id WHERE t.session_id = %s",
                        (session["id"],),
                    )
                ]
            if "agent" in kinds:
                time.sleep(0.15)  # the sim manager decides at once: bob's slow call is in flight
                first.kill()
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_the_first_answer)
    killer.start()
    try:
        with pytest.raises(httpx.HTTPError):
            httpx.post(
                f"{first.url}{API}/sessions/{session['id']}/turns",
                json={"message": "@ada then @bob, then @ada again"},
                headers=auth,
                timeout=60,
            )
    finally:
        killer.join()
    with psycopg.connect(database_url) as conn:
        turn_id = str(conn.execute("SELECT id FROM turns WHERE session_id = %s", (session["id"],)).fetchone()[0])
        committed = {r[0] for r in conn.execute("SELECT step_index FROM turn_steps WHERE turn_id = %s", (turn_id,))}
    assert {0, 1} <= committed and len(committed) < 7

    second = Server(database_url, PANTHEON_TURN_STALE_AFTER_S="0.3", PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.01")
    servers.append(second)
    deadline = time.monotonic() + 60
    while (turn := call(second, "GET", f"/sessions/{session['id']}/turns/{turn_id}", auth))["status"] == "running":
        assert time.monotonic() < deadline, turn
        time.sleep(0.1)
    assert [(s["kind"], s["agent_key"]) for s in turn["steps"]] == [
        ("manager", None),
        ("agent", "ada"),
        ("manager", None),
        ("agent", "bob"),
        ("manager", None),
        ("agent", "ada"),
        ("manager", None),
        ("synthesis", None),
    ]
    assert turn["status"] == "completed" and turn["orchestration"] == {"fallback": False}
    rows = call(second, "GET", "/usage/events", auth, params={"turn_id": turn_id, "limit": "100"})["items"]
    successes = sorted((r["step_index"], r["purpose"]) for r in rows if r["status"] == "success")
    # One paid call per step, each step's purpose: nothing committed before the crash was called again.
    assert successes == [(s["index"], s["kind"]) for s in turn["steps"]]
    cancelled = [r for r in rows if r["status"] == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["step_index"] not in committed
    assert cancelled[0]["credits_burned"] == "0.0000"
