"""Section 13: how fast a `now` stop closes the provider's connection. A loopback OpenAI-compatible
server in the benchmark process streams a word every 50 ms for a minute and timestamps the moment the
client hangs up; a second `pantheon serve` is configured to call it. Each sample is the time from
sending `POST …/stop` to that hang-up, with the stop sent to the process running the turn (it acts at
once) or to another process sharing the database (the running one hears of it by the turn's notice)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

from bench.http_turns import API
from bench.infra import log, server
from bench.stats import Sample

CHUNK_EVERY_S = 0.05


class SlowProvider:
    """Answers every chat completion with an endless slow stream; records each request and each hang-up."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[float] = asyncio.Queue()
        self.hangups: asyncio.Queue[float] = asyncio.Queue()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            length = 0
            await reader.readline()
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            self.requests.put_nowait(time.monotonic())
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            hangup = asyncio.ensure_future(reader.read(1))  # a client sends nothing more: EOF is its hang-up
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not hangup.done():
                event = json.dumps({"id": "bench", "choices": [{"index": 0, "delta": {"content": "word "}}]})
                chunk = f"data: {event}\n\n".encode()
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                await writer.drain()
                await asyncio.wait({hangup}, timeout=CHUNK_EVERY_S)
            if hangup.done():
                self.hangups.put_nowait(time.monotonic())
            hangup.cancel()
        except (ConnectionError, asyncio.IncompleteReadError):
            self.hangups.put_nowait(time.monotonic())
        finally:
            writer.close()


@dataclass
class StopLatency:
    here: Sample = field(default_factory=lambda: Sample("stop now -> provider connection closed, same process"))
    elsewhere: Sample = field(default_factory=lambda: Sample("stop now -> provider connection closed, other process"))


async def _one(runner: httpx.AsyncClient, receiver: httpx.AsyncClient, room_id: str, provider: SlowProvider) -> float:
    session = (await runner.post(f"{API}/rooms/{room_id}/sessions", json={})).json()["id"]
    turn = asyncio.ensure_future(runner.post(f"{API}/sessions/{session}/turns", json={"message": "Take your time."}))
    await asyncio.wait_for(provider.requests.get(), 30)
    await asyncio.sleep(0.2)  # a few words streamed
    turn_id = (await runner.get(f"{API}/sessions/{session}/turns")).json()["items"][0]["id"]
    sent = time.monotonic()
    response = await receiver.post(f"{API}/sessions/{session}/turns/{turn_id}/stop", json={"mode": "now"})
    if response.status_code != 202:
        raise RuntimeError(f"stop answered {response.status_code}: {response.text[:200]}")
    closed = await asyncio.wait_for(provider.hangups.get(), 10)
    await asyncio.wait_for(turn, 30)
    return (closed - sent) * 1000


async def stop_latency(database_url: str, other_base: str, n: int) -> StopLatency:
    provider = SlowProvider()
    await provider.start()
    # The loopback provider needs no key.
    config = (
        f'[providers.loop]\nkind = "openai"\nbase_url = "http://127.0.0.1:{provider.port}/v1"\n'
        'max_retries = 0\ntimeout_s = 60\n\n'
        '[models.slow-loop]\nprovider = "loop"\nprovider_model = "slow"\ncontext_window = 32768\n'
    )
    result = StopLatency()
    try:
        with server(database_url, config=config, name="stop-server") as (base, _):
            async with (
                httpx.AsyncClient(base_url=base, timeout=60) as runner,
                httpx.AsyncClient(base_url=other_base, timeout=60) as other,
            ):
                email = f"bench-stop-{uuid.uuid4().hex[:10]}@example.com"
                key = (await runner.post(f"{API}/users", json={"email": email})).json()["api_key"]
                for client in (runner, other):
                    client.headers["Authorization"] = f"Bearer {key}"
                room = (await runner.post(f"{API}/rooms", json={"name": "stop bench", "mode": "roundtable"})).json()
                agent = {"agent_key": "slow", "name": "Slow", "model": "slow-loop", "role_prompt": "Go on and on."}
                await runner.post(f"{API}/rooms/{room['id']}/agents", json=agent)
                await _one(runner, runner, room["id"], provider)  # warm-up
                for i in range(n):
                    result.here.values.append(await _one(runner, runner, room["id"], provider))
                    result.elsewhere.values.append(await _one(runner, other, room["id"], provider))
                    if i % 10 == 9:
                        log(f"section 13: {i + 1}/{n} stops of each kind")
    finally:
        await provider.close()
    return result


def main() -> None:
    """`python -m bench.stop_latency [N]`: section 13 alone, on the bench's own database and server."""
    import contextlib
    import sys

    from bench.infra import fresh_database, postgres
    from bench.report import sample_row, table

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with contextlib.ExitStack() as stack:
        database_url = fresh_database(stack.enter_context(postgres(None)))
        base, _ = stack.enter_context(server(database_url))
        result = asyncio.run(stop_latency(database_url, base, n))
    rows = [sample_row("13a", result.here), sample_row("13b", result.elsewhere)]
    print("\n".join(table(["#", "measurement", "n", "p50 ms", "p95 ms", "note"], rows, right={2, 3, 4})))


if __name__ == "__main__":
    main()
