"""Turns over HTTP against a running server, through one shared keep-alive httpx.AsyncClient."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from bench.infra import log
from bench.stats import Sample

API = "/api/v1"


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.first_error: str | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(f"{API}{path}", json=body, headers=self.headers)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def sign_up(self) -> None:
        body = await self._post(
            "/users", {"email": f"bench-{uuid.uuid4().hex[:12]}@example.com", "display_name": "bench"}
        )
        self.headers = {"Authorization": f"Bearer {body['api_key']}"}

    async def room(self, mode: str, agents: int) -> str:
        room_id = (
            await self._post(
                "/rooms", {"name": f"bench {mode} x{agents}", "mode": mode, "goal": "Measure how fast a turn is."}
            )
        )["id"]
        for i in range(agents):
            await self._post(
                f"/rooms/{room_id}/agents",
                {
                    "agent_key": f"a{i}",
                    "name": f"Agent {i}",
                    "model": "sim",
                    "position": i,
                    "role_prompt": f"You are agent {i}: answer briefly and concretely.",
                },
            )
        return room_id

    async def sessions(self, room_id: str, count: int) -> list[str]:
        return [(await self._post(f"/rooms/{room_id}/sessions", {}))["id"] for _ in range(count)]

    async def turn(self, session_id: str, message: str) -> tuple[float, bool]:
        """(milliseconds, answered 201)."""
        started = time.perf_counter()
        response = await self.client.post(
            f"{API}/sessions/{session_id}/turns", json={"message": message}, headers=self.headers
        )
        elapsed = (time.perf_counter() - started) * 1000
        ok = response.status_code == 201
        if not ok and self.first_error is None:
            self.first_error = f"{response.status_code}: {response.text[:300]}"
            log(f"turn error {self.first_error}")
        return elapsed, ok


def message(mode: str, i: int) -> str:
    text = f"Turn {i}: what should we do next about the launch plan?"
    return f"@a0 {text}" if mode == "manual" else text


async def sequential_turns(
    api: Api, label: str, mode: str, agents: int, *, warmup: int, n: int, per_session: int
) -> Sample:
    """`warmup` then `n` turns one after another, a new session every `per_session` turns (history stays small)."""
    room_id = await api.room(mode, agents)
    total = warmup + n
    sessions = await api.sessions(room_id, -(-total // per_session))
    sample = Sample(label, note=f"{n // per_session} sessions x {per_session} turns, after {warmup} warm-up")
    for i in range(total):
        elapsed, ok = await api.turn(sessions[i // per_session], message(mode, i))
        if i < warmup:
            continue
        if ok:
            sample.values.append(elapsed)
        else:
            sample.errors += 1
    return sample


async def session_growth(api: Api, turns: int = 200, window: int = 20) -> tuple[Sample, Sample, list[float]]:
    """One manual session of `turns` turns: the first `window` turns vs the last `window`, and block medians."""
    room_id = await api.room("manual", 1)
    (session_id,) = await api.sessions(room_id, 1)
    latencies: list[float] = []
    errors = 0
    for i in range(turns):
        elapsed, ok = await api.turn(session_id, message("manual", i))
        latencies.append(elapsed)
        errors += not ok
    first = Sample(f"one session, turns 1-{window}", latencies[:window], note="manual, 1 sim agent")
    last = Sample(f"one session, turns {turns - window + 1}-{turns}", latencies[-window:], errors=errors)
    blocks = [Sample("", latencies[i : i + window]).p50 for i in range(0, turns, window)]
    return first, last, blocks


async def throughput(api: Api, clients: int, duration_s: float) -> tuple[Sample, float]:
    """`clients` concurrent loops, each on its own session, for `duration_s`: (latencies + errors, turns/s)."""
    room_id = await api.room("manual", 1)
    sessions = await api.sessions(room_id, clients)
    await asyncio.gather(*(api.turn(s, message("manual", 0)) for s in sessions))  # warm every session
    sample = Sample(f"throughput, {clients} clients on {clients} sessions")
    completed = 0
    started = time.perf_counter()
    deadline = started + duration_s

    async def loop(session_id: str) -> None:
        nonlocal completed
        i = 1
        while time.perf_counter() < deadline:
            elapsed, ok = await api.turn(session_id, message("manual", i))
            i += 1
            if ok:
                completed += 1
                sample.values.append(elapsed)
            else:
                sample.errors += 1

    await asyncio.gather(*(loop(s) for s in sessions))
    wall = time.perf_counter() - started
    rate = completed / wall
    sample.note = f"{rate:.0f} turns/s over {wall:.1f} s, manual 1 agent, {sample.errors} errors (non-201)"
    return sample, rate
