"""Every stream ends (invariant 9): after the terminal event, at once when it starts past it, when the
room goes, when the turn is abandoned, and at worst after the longest a stream may live."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, ISOLATED_ENV, add_agent, auth_headers, build_client, create_room, open_session
from tests.e2e.test_streaming import parse_sse


async def finished_turn(client: AsyncTestClient) -> tuple[dict[str, str], str, str, int]:
    headers = await auth_headers(client)
    room = await create_room(client, headers)
    await add_agent(client, headers, room["id"], "ada")
    session = (await open_session(client, headers, room["id"]))["id"]
    turn = (await client.post(f"{API}/sessions/{session}/turns", json={"message": "@ada hi"}, headers=headers)).json()
    events = parse_sse((await client.get(f"{API}/sessions/{session}/turns/{turn['id']}/events", headers=headers)).text)
    return headers, session, turn["id"], events[-1]["id"]


@pytest.mark.parametrize("past", [0, 1, 1000])
async def test_a_replay_starting_after_the_terminal_event_ends_at_once_and_empty(
    client: AsyncTestClient, past: int
) -> None:
    headers, session, turn_id, last = await finished_turn(client)
    response = await asyncio.wait_for(
        client.get(
            f"{API}/sessions/{session}/turns/{turn_id}/events", headers={**headers, "Last-Event-ID": str(last + past)}
        ),
        5,
    )
    assert response.status_code == 200 and response.text.strip() == ""


def running_turn(database_url: str, user_id: str, *, died_ago_s: float | None) -> tuple[str, str]:
    """A room, a session and a turn `running`: left by a process that died `died_ago_s` ago, or (None)
    run by another process that keeps its heartbeat fresh. Returns (session, turn)."""
    room, session, turn = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    then = now - timedelta(seconds=died_ago_s or 0)
    heartbeat = then if died_ago_s is not None else now + timedelta(hours=1)
    roster = [{"agent_key": "ada", "name": "Ada", "model": "sim", "role_prompt": "x", "position": 0}]
    plan = [{"index": 0, "kind": "agent", "agent": roster[0]}]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO rooms (id, owner_id, name, current_mode, created_at, updated_at)"
            " VALUES (%s, %s, 'r', 'roundtable', now(), now())",
            (room, user_id),
        )
        conn.execute(
            "INSERT INTO sessions (id, room_id, user_id, created_at, turn_count) VALUES (%s, %s, %s, now(), 1)",
            (session, room, user_id),
        )
        conn.execute(
            "INSERT INTO turns (id, session_id, user_id, room_id, turn_index, mode, status, user_message, roster,"
            " plan, pricing_version, created_at, heartbeat_at) VALUES (%s, %s, %s, %s, 0, 'roundtable', 'running',"
            " 'go', %s, %s, '2026-02-20', %s, %s)",
            (turn, session, user_id, room, json.dumps(roster), json.dumps(plan), then, heartbeat),
        )
        conn.execute(
            "INSERT INTO turn_events (turn_id, seq, type, payload, created_at) VALUES (%s, 1, 'turn_started', %s, %s)",
            (turn, json.dumps({"turn_id": str(turn), "seq": 1, "turn_index": 0, "mode": "roundtable"}), then),
        )
    return str(session), str(turn)


@pytest.fixture(scope="module")
async def quick_recovery(database_url: str) -> AsyncIterator[AsyncTestClient]:
    """An app whose supervisor adopts stale turns within a second, and ends those older than a minute."""
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        async with build_client(
            database_url, turn_stale_after_s=0.3, turn_abandon_after_s=60, stream_max_s=1.5
        ) as test_client:
            yield test_client


async def user_id_of(client: AsyncTestClient, headers: dict[str, str]) -> str:
    return (await client.get(f"{API}/me", headers=headers)).json()["id"]


async def test_a_follower_of_an_abandoned_turn_sees_it_end(quick_recovery: AsyncTestClient, database_url: str) -> None:
    headers = await auth_headers(quick_recovery)
    session, turn = running_turn(database_url, await user_id_of(quick_recovery, headers), died_ago_s=3600)
    response = await asyncio.wait_for(
        quick_recovery.get(f"{API}/sessions/{session}/turns/{turn}/events", headers=headers), 10
    )
    events = parse_sse(response.text)
    assert [e["event"] for e in events] == ["turn_started", "turn_failed"]  # no step had run: it could not run
    assert events[-1]["data"]["error"]["code"] == "turn_abandoned"


async def test_a_follower_of_a_turn_whose_room_is_deleted_sees_the_stream_end(
    quick_recovery: AsyncTestClient, database_url: str
) -> None:
    headers = await auth_headers(quick_recovery)
    session, turn = running_turn(database_url, await user_id_of(quick_recovery, headers), died_ago_s=None)

    def delete_room() -> None:  # DELETE /rooms/{id} by another client while the stream runs
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "UPDATE rooms r SET deleted_at = now() FROM sessions s WHERE s.id = %s AND r.id = s.room_id", (session,)
            )

    timer = threading.Timer(0.3, delete_room)  # a thread: the test client blocks this loop while it streams
    timer.start()
    response = await asyncio.wait_for(
        quick_recovery.get(f"{API}/sessions/{session}/turns/{turn}/events", headers=headers), 5
    )
    timer.join()
    assert [e["event"] for e in parse_sse(response.text)] == ["turn_started"]


async def test_no_stream_outlives_its_bound_and_it_says_so(quick_recovery: AsyncTestClient, database_url: str) -> None:
    headers = await auth_headers(quick_recovery)
    session, turn = running_turn(database_url, await user_id_of(quick_recovery, headers), died_ago_s=None)
    response = await asyncio.wait_for(
        quick_recovery.get(f"{API}/sessions/{session}/turns/{turn}/events", headers=headers), 10
    )
    blocks = response.text.replace("\r\n", "\n").strip().split("\n\n")
    assert blocks[-1].startswith("event: stream_closed")
    closed = json.loads(blocks[-1].split("data: ", 1)[1])
    assert (closed["turn_id"], closed["seq"], closed["reason"]) == (turn, 1, "max_duration")
    assert "id:" not in blocks[-1]  # not an event of the turn: a reconnect resumes after seq 1
