"""Turns as Server-Sent Events (docs/http-api.md, "Streaming"): live from POST, replayed from GET …/events."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, add_agent, assert_error, auth_headers, create_room, open_session
from tests.support.server_process import Server

FAIL = "<<pantheon-sim:fail>>"
STREAM = {"accept": "text/event-stream"}


def parse_sse(body: str) -> list[dict[str, Any]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields[name] = value
        events.append({"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])})
    return events


async def roundtable(client: AsyncTestClient) -> tuple[dict[str, str], str, str]:
    headers = await auth_headers(client)
    room = await create_room(client, headers, mode="roundtable")
    await add_agent(client, headers, room["id"], "ada")
    await add_agent(client, headers, room["id"], "bob", role_prompt=f"You are bob. {FAIL}")
    await add_agent(client, headers, room["id"], "cy")
    return headers, room["id"], (await open_session(client, headers, room["id"]))["id"]


def check_stream(events: list[dict[str, Any]], turn_id: str) -> None:
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))  # gapless, from 1
    assert all(e["data"]["seq"] == e["id"] and e["data"]["turn_id"] == turn_id for e in events)
    assert events[0]["event"] == "turn_started" and events[-1]["event"] == "turn_completed"
    assert sum(e["event"] in ("turn_completed", "turn_failed") for e in events) == 1


async def test_a_turn_streams_its_steps_and_completes_even_when_partial(client: AsyncTestClient) -> None:
    headers, _, session = await roundtable(client)
    response = await client.post(
        f"{API}/sessions/{session}/turns", json={"message": "go"}, headers={**headers, **STREAM}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    turn = events[-1]["data"]["turn"]
    check_stream(events, turn["id"])
    assert events[0]["data"]["turn_index"] == 0 and events[0]["data"]["mode"] == "roundtable"
    started = [e["data"] for e in events if e["event"] == "step_started"]
    assert [(s["index"], s["agent_key"], s["kind"], s["model"]) for s in started] == [
        (0, "ada", "agent", "sim"),
        (1, "bob", "agent", "sim"),
        (2, "cy", "agent", "sim"),
    ]
    completed = {e["data"]["index"]: e["data"] for e in events if e["event"] == "step_completed"}
    assert [completed[i]["status"] for i in range(3)] == ["completed", "failed", "completed"]
    assert completed[1]["error"]["code"] == "simulated_failure"
    for index in (0, 2):  # the deltas of a step add up to its answer
        text = "".join(e["data"]["text"] for e in events if e["event"] == "step_delta" and e["data"]["index"] == index)
        assert text == completed[index]["content"] == turn["steps"][index]["content"]
    assert turn["status"] == "partial"
    stored = (await client.get(f"{API}/sessions/{session}/turns/{turn['id']}", headers=headers)).json()
    assert stored == turn
    # The same events, replayed from the database.
    replayed = await client.get(f"{API}/sessions/{session}/turns/{turn['id']}/events", headers=headers)
    assert replayed.status_code == 200 and parse_sse(replayed.text) == events
    after = await client.get(
        f"{API}/sessions/{session}/turns/{turn['id']}/events", headers={**headers, "Last-Event-ID": "3"}
    )
    assert parse_sse(after.text) == events[3:]


async def test_refusals_stay_plain_errors_before_any_stream(client: AsyncTestClient) -> None:
    headers = await auth_headers(client)
    room = await create_room(client, headers)
    await add_agent(client, headers, room["id"], "ada")
    session = (await open_session(client, headers, room["id"]))["id"]
    assert_error(
        await client.post(f"{API}/sessions/{session}/turns", json={"message": "no tag"}, headers={**headers, **STREAM}),
        422,
        "no_valid_tag",
    )
    assert (await client.get(f"{API}/sessions/{session}/turns", headers=headers)).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_a_turn_sent_without_streaming_can_be_replayed(client: AsyncTestClient) -> None:
    headers, _, session = await roundtable(client)
    turn = (await client.post(f"{API}/sessions/{session}/turns", json={"message": "go"}, headers=headers)).json()
    events = parse_sse((await client.get(f"{API}/sessions/{session}/turns/{turn['id']}/events", headers=headers)).text)
    check_stream(events, turn["id"])
    assert events[-1]["data"]["turn"] == turn
    assert [e["event"] for e in events if e["event"] != "step_delta"] == [
        "turn_started",
        "step_started",
        "step_completed",
        "step_started",
        "step_completed",
        "step_started",
        "step_completed",
        "turn_completed",
    ]


async def test_idempotent_replay_streams_the_original_events(client: AsyncTestClient) -> None:
    headers = await auth_headers(client)
    room = await create_room(client, headers)
    await add_agent(client, headers, room["id"], "ada")
    session = (await open_session(client, headers, room["id"]))["id"]
    key = {"Idempotency-Key": "stream-1"}
    first = parse_sse(
        (
            await client.post(
                f"{API}/sessions/{session}/turns", json={"message": "@ada hi"}, headers={**headers, **STREAM, **key}
            )
        ).text
    )
    again = await client.post(
        f"{API}/sessions/{session}/turns", json={"message": "@ada hi"}, headers={**headers, **STREAM, **key}
    )
    assert again.status_code == 200 and parse_sse(again.text) == first
    assert len((await client.get(f"{API}/usage/events", headers=headers)).json()["items"]) == 1


async def test_events_are_the_owners_only(client: AsyncTestClient) -> None:
    headers, _, session = await roundtable(client)
    turn = (await client.post(f"{API}/sessions/{session}/turns", json={"message": "go"}, headers=headers)).json()
    path = f"{API}/sessions/{session}/turns/{turn['id']}/events"
    assert_error(await client.get(path, headers=await auth_headers(client, "intruder")), 404, "not_found")
    assert_error(await client.get(path, headers={**headers, "Last-Event-ID": "x"}), 422, "validation_error")
    assert_error(
        await client.get(f"{API}/sessions/{session}/turns/not-a-uuid/events", headers=headers), 404, "not_found"
    )


def test_a_running_turn_can_be_followed_from_another_server_process(database_url: str) -> None:
    import threading
    import time

    import httpx

    runner, follower = (Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.03") for _ in range(2))
    try:
        key = httpx.post(f"{runner.url}{API}/users", json={"email": "follow@example.com"}).json()["api_key"]
        auth = {"Authorization": f"Bearer {key}"}
        room = httpx.post(f"{runner.url}{API}/rooms", json={"name": "r", "mode": "roundtable"}, headers=auth).json()
        for name in ("ada", "bob"):
            httpx.post(
                f"{runner.url}{API}/rooms/{room['id']}/agents",
                headers=auth,
                json={"agent_key": name, "name": name, "model": "sim-slow", "role_prompt": "x"},
            )
        session = httpx.post(f"{runner.url}{API}/rooms/{room['id']}/sessions", json={}, headers=auth).json()["id"]
        result: dict[str, Any] = {}
        post = threading.Thread(
            target=lambda: result.update(
                httpx.post(
                    f"{runner.url}{API}/sessions/{session}/turns", json={"message": "go"}, headers=auth, timeout=60
                ).json()
            )
        )
        post.start()
        items: list[dict[str, Any]] = []
        while not items:
            time.sleep(0.05)
            items = httpx.get(f"{follower.url}{API}/sessions/{session}/turns", headers=auth).json()["items"]
        assert items[0]["status"] == "running"
        followed = httpx.get(
            f"{follower.url}{API}/sessions/{session}/turns/{items[0]['id']}/events", headers=auth, timeout=60
        )
        post.join()
    finally:
        runner.stop()
        follower.stop()
    events = parse_sse(followed.text)
    check_stream(events, items[0]["id"])
    assert events[-1]["data"]["turn"] == result
    assert sum(e["event"] == "step_delta" for e in events) > 2  # the text came in pieces while it ran
