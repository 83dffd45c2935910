"""A reader that stops reading never stalls the turn nor makes the server hold its events without
bound: once more than PANTHEON_STREAM_BACKLOG_BYTES wait for it, its stream is cut, and a reconnect
with Last-Event-ID gets the rest.

The stalled reader is the real app driven over ASGI with a transport that stops taking bytes after the
first few events, which is what a server's `send` does when the client's socket buffers are full (over
real sockets those buffers hold megabytes on loopback, far more than a test turn writes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.e2e.conftest import API, ISOLATED_ENV
from tests.e2e.test_stream_resume import stored_events
from tests.e2e.test_streaming import parse_sse
from tests.support.server_process import free_port

BOUND = 2048  # bytes of events waiting for one reader; a 5-agent turn writes several times more
AGENTS = ("ada", "bob", "cy", "dan", "eve")


@pytest.fixture(scope="module")
async def served(database_url: str) -> AsyncIterator[tuple[str, Any]]:
    """The real app under uvicorn in this process and event loop: the stalled reader calls it directly."""
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        settings = Settings(database_url=database_url, stream_backlog_bytes=BOUND, sim_slow_chunk_delay_s=0.02)
        app = create_app(Container(settings=settings, database_url=database_url))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, loop="none"))
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", app
        server.should_exit = True
        await serving


class StalledReader:
    """An ASGI client of GET …/events that reads `events` events and then stops reading for good."""

    def __init__(self, path: str, headers: dict[str, str], events: int) -> None:
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        self.body = b""
        self.ended = False  # the server sent the end of the body (it was not cut)
        self._events = events
        self._asked = False
        self._never = asyncio.Event()
        self.turn_running: Any = lambda: False
        self.cut_while_running = False

    async def receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._never.wait()  # the client never hangs up either
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body":
            return
        if self.body.count(b"\r\n\r\n") >= self._events:
            try:
                await self._never.wait()  # the socket is full: this write waits for a reader that is gone
            except asyncio.CancelledError:  # the server gave up on this reader
                self.cut_while_running = self.turn_running()
                raise
        self.body += message.get("body", b"")
        self.ended = self.ended or not message.get("more_body", False)


async def test_a_reader_that_stops_reading_is_cut_and_resumes_with_last_event_id(
    served: tuple[str, Any], database_url: str
) -> None:
    url, app = served
    async with httpx.AsyncClient(base_url=url + API, timeout=60) as api:
        key = (await api.post("/users", json={"email": "stalled@example.com"})).json()["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        room = (await api.post("/rooms", json={"name": "r", "mode": "roundtable"}, headers=headers)).json()
        for name in AGENTS:
            agent = {"agent_key": name, "name": name, "model": "sim-slow", "role_prompt": f"You are {name}."}
            assert (await api.post(f"/rooms/{room['id']}/agents", json=agent, headers=headers)).status_code == 201
        session = (await api.post(f"/rooms/{room['id']}/sessions", json={}, headers=headers)).json()["id"]
        post = asyncio.ensure_future(api.post(f"/sessions/{session}/turns", json={"message": "Go."}, headers=headers))
        items: list[dict[str, Any]] = []
        while not items:
            await asyncio.sleep(0.02)
            items = (await api.get(f"/sessions/{session}/turns", headers=headers)).json()["items"]
        turn_id = items[0]["id"]
        path = f"{API}/sessions/{session}/turns/{turn_id}/events"

        reader = StalledReader(path, headers, events=3)
        reader.turn_running = lambda: not post.done()
        served_stream = asyncio.ensure_future(app(reader.scope, reader.receive, reader.send))
        turn = await asyncio.wait_for(post, 60)  # the turn does not wait for its reader
        await asyncio.wait_for(served_stream, 30)  # … and the server gives up on that reader: a cut
        assert turn.status_code == 201 and turn.json()["status"] == "completed"
        assert not reader.ended  # cut, not ended: the stream never reached its terminal event
        got = parse_sse(reader.body.decode())
        assert [e["id"] for e in got] == [1, 2, 3]
        assert reader.cut_while_running

        rest = await api.get(path.removeprefix(API), headers={**headers, "Last-Event-ID": str(got[-1]["id"])})
    whole = got + parse_sse(rest.text)
    assert whole == stored_events(database_url, turn_id)
    assert whole[-1]["event"] == "turn_completed" and whole[-1]["data"]["turn"] == turn.json()
