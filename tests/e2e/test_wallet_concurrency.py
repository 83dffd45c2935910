"""Invariant 8 under load, with real server processes on one PostgreSQL: 100 concurrent turns of one
user whose wallet covers about 10 of them never overspend it, and the running-turn limit holds
across two processes. `pantheon admin create` runs while the servers do."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.server_process import ROOT, Server, api_call
from tests.support.wallet import wallet_figures, wallets_out_of_line

API = "/api/v1"
TURNS = 100


def admin_key(database_url: str, email: str) -> str:
    """`pantheon admin create EMAIL`, as an operator runs it: the key is alone on the last line."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENROUTER_API_KEY", "PANTHEON_CONFIG")}
    done = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "admin", "create", email],
        cwd=ROOT,
        env=env | {"PANTHEON_DATABASE_URL": database_url, "PANTHEON_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert key.startswith("pk_") and " " not in key, done.stdout
    return key


def call(server: Server, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return api_call(server, method, path, headers, timeout=60, **kwargs)


def sessions_of(server: Server, auth: dict[str, str], count: int, model: str) -> list[str]:
    room = call(server, "POST", "/rooms", auth, json={"name": "Busy", "mode": "roundtable"})
    agent = {"agent_key": "ada", "name": "Ada", "model": model, "role_prompt": "Be brief."}
    call(server, "POST", f"/rooms/{room['id']}/agents", auth, json=agent)
    return [call(server, "POST", f"/rooms/{room['id']}/sessions", auth, json={})["id"] for _ in range(count)]


@pytest.fixture
def servers() -> Any:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_100_concurrent_turns_never_overspend_a_wallet_that_covers_10(database_url: str, servers: list[Server]) -> None:
    server = Server(
        database_url,
        PANTHEON_STARTING_CREDITS="0",
        PANTHEON_MAX_RUNNING_TURNS="1000",
        PANTHEON_RATE_LIMIT_PER_MINUTE="0",
        PANTHEON_DB_POOL_WAIT_S="60",
        PANTHEON_TURN_STALE_AFTER_S="1",
    )
    servers.append(server)
    admin = {"Authorization": f"Bearer {admin_key(database_url, 'ops@example.com')}"}
    signup = call(server, "POST", "/users", json={"email": "crowd@example.com"})
    auth, user_id = {"Authorization": f"Bearer {signup['api_key']}"}, signup["user"]["id"]
    sessions = sessions_of(server, auth, TURNS, "sim")
    # With nothing in the wallet, the 402 says what one turn's first call needs at worst.
    refused = httpx.post(f"{server.url}{API}/sessions/{sessions[0]}/turns", json={"message": "hi"}, headers=auth)
    assert refused.status_code == 402, refused.text
    worst = Decimal(refused.json()["extra"]["required_credits"])
    balance = worst * 10
    grant = {"amount": str(balance), "reason": "covers about 10 turns", "idempotency_key": "crowd-1"}
    call(server, "POST", f"/admin/users/{user_id}/grants", admin, json=grant)

    start = threading.Barrier(TURNS)

    def turn(session: str) -> int:
        start.wait()
        url = f"{server.url}{API}/sessions/{session}/turns"
        return httpx.post(url, json={"message": "Everyone at once: go."}, headers=auth, timeout=120).status_code

    with ThreadPoolExecutor(TURNS) as pool:
        statuses = list(pool.map(turn, sessions))
    assert set(statuses) <= {201, 402}, statuses
    ran = statuses.count(201)

    deadline = time.monotonic() + 20
    while (figures := wallet_figures(database_url, user_id)).reservations and time.monotonic() < deadline:
        time.sleep(0.2)  # the supervisor sweeps every stale_after / 3
    overshoot = max(Decimal(0), figures.debited - balance)
    print(
        f"\nwallet concurrency: {TURNS} concurrent turns, balance {balance} (10 × worst case {worst}); "
        f"{ran} ran, {statuses.count(402)} answered 402; debited {figures.debited}, overshoot {overshoot}, "
        f"final balance {figures.balance}, reservations left {figures.reservations}"
    )
    assert ran >= 1
    # With the simulated model no call's actual cost exceeds its reservation: not a credit of overshoot.
    assert figures.debited <= balance and figures.balance >= 0
    assert figures.debited == figures.burned and figures.balance == figures.transactions
    assert (figures.reservations, figures.reserved) == (0, 0)
    assert wallets_out_of_line(database_url) == []


def test_the_running_turn_limit_holds_across_two_server_processes(database_url: str, servers: list[Server]) -> None:
    env = {"PANTHEON_MAX_RUNNING_TURNS": "2", "PANTHEON_SIM_SLOW_CHUNK_DELAY_S": "0.1", "PANTHEON_DB_POOL_WAIT_S": "30"}
    one, two = Server(database_url, **env), Server(database_url, **env)
    servers.extend([one, two])
    signup = call(one, "POST", "/users", json={"email": "busy@example.com"})
    auth = {"Authorization": f"Bearer {signup['api_key']}"}
    sessions = sessions_of(one, auth, 6, "sim-slow")  # each turn streams for a few seconds
    start = threading.Barrier(len(sessions))

    def turn(pair: tuple[Server, str]) -> httpx.Response:
        server, session = pair
        start.wait()
        return httpx.post(
            f"{server.url}{API}/sessions/{session}/turns", json={"message": "go"}, headers=auth, timeout=120
        )

    with ThreadPoolExecutor(len(sessions)) as pool:
        answers = list(pool.map(turn, [(one if i % 2 else two, s) for i, s in enumerate(sessions)]))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 201, 429, 429, 429, 429], [a.text for a in answers]
    limited = [a for a in answers if a.status_code == 429]
    assert all(a.json()["code"] == "rate_limited" and a.json()["extra"] == {"limit": 2} for a in limited)
    assert all(int(a.headers["retry-after"]) >= 1 for a in limited)
    with psycopg.connect(database_url) as conn:
        user_turns = conn.execute("SELECT count(*) FROM turns WHERE user_id = %s", (signup["user"]["id"],)).fetchone()
    assert user_turns[0] == 2  # the refused ones wrote nothing
    # Once those finished, the user may run again.
    assert call(two, "POST", f"/sessions/{sessions[0]}/turns", auth, json={"message": "again"})["status"] == "completed"


def test_a_user_suspended_mid_turn_is_refused_while_the_running_turn_finishes(
    database_url: str, servers: list[Server]
) -> None:
    server = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.05")
    servers.append(server)
    admin = {"Authorization": f"Bearer {admin_key(database_url, 'ops-suspend@example.com')}"}
    signup = call(server, "POST", "/users", json={"email": "midturn@example.com"})
    auth, user_id = {"Authorization": f"Bearer {signup['api_key']}"}, signup["user"]["id"]
    (session,) = sessions_of(server, auth, 1, "sim-slow")
    answers: list[httpx.Response] = []
    running = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{server.url}{API}/sessions/{session}/turns", json={"message": "go"}, headers=auth, timeout=60)
        )
    )
    running.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            if conn.execute("SELECT count(*) FROM turns WHERE session_id = %s", (session,)).fetchone()[0]:
                break
        time.sleep(0.02)
    call(server, "POST", f"/admin/users/{user_id}/suspend", admin)
    refused = httpx.get(f"{server.url}{API}/me", headers=auth)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    running.join()
    assert answers[0].status_code == 201 and answers[0].json()["status"] == "completed", answers[0].text
    assert wallet_figures(database_url, user_id).debited == Decimal(answers[0].json()["usage"]["credits"])
