"""Turns over HTTP against a running server, through one shared keep-alive httpx.AsyncClient."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from bench.cases import Case
from bench.infra import log, process_cpu_s
from bench.stats import Sample

API = "/api/v1"


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.errors: list[str] = []

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

    async def room(self, mode: str, agents: int, *, model: str = "sim") -> str:
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
                    "model": model,
                    "position": i,
                    "role_prompt": f"You are agent {i}: answer briefly and concretely.",
                },
            )
        return room_id

    async def sessions(self, room_id: str, count: int) -> list[str]:
        return [(await self._post(f"/rooms/{room_id}/sessions", {}))["id"] for _ in range(count)]

    async def turn(self, session_id: str, message: str) -> tuple[float, bool]:
        """(milliseconds, answered 201). A transport failure counts as an error, like any status but 201."""
        started = time.perf_counter()
        try:
            response = await self.client.post(
                f"{API}/sessions/{session_id}/turns", json={"message": message}, headers=self.headers
            )
        except httpx.TransportError as exc:
            self._error(f"{type(exc).__name__}: {exc}")
            return (time.perf_counter() - started) * 1000, False
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 201:
            self._error(f"{response.status_code}: {response.text[:300]}")
            return elapsed, False
        return elapsed, True

    def _error(self, text: str) -> None:
        self.errors.append(text)
        if len(self.errors) <= 3:
            log(f"turn error: {text}")


def message(mode: str, i: int) -> str:
    text = f"Turn {i}: what should we do next about the launch plan?"
    return f"@a0 {text}" if mode == "manual" else text


async def turn_case(api: Api, label: str, mode: str, agents: int, *, warmup: int, n: int, per_session: int) -> Case:
    """Turns one after another in a fresh room, a new session every `per_session` turns (history stays small)."""
    room_id = await api.room(mode, agents)
    total = warmup + n
    sessions = await api.sessions(room_id, -(-total // per_session))
    turns = iter(range(total))

    async def once() -> bool:
        i = next(turns)
        _, ok = await api.turn(sessions[i // per_session], message(mode, i))
        return ok

    note = f"{n // per_session} sessions x {per_session} turns, after {warmup} warm-up"
    return Case(Sample(label, note=note), once, warmup, n)


async def session_growth(api: Api, turns: int = 200, window: int = 20) -> tuple[Sample, Sample, list[float]]:
    """One manual session of `turns` turns: the first `window` turns vs the last `window`, and block medians.

    Each turn of the long session is followed by a control turn on a short session (<= 10 turns), so that a
    change of background load shows in the control figures rather than passing for growth.
    """
    room_id = await api.room("manual", 1)
    (session_id,) = await api.sessions(room_id, 1)
    controls = await api.sessions(room_id, -(-turns // 10))
    latencies: list[float] = []
    control: list[float] = []
    errors = 0
    for i in range(turns):
        elapsed, ok = await api.turn(session_id, message("manual", i))
        latencies.append(elapsed)
        errors += not ok
        elapsed, ok = await api.turn(controls[i // 10], message("manual", i))
        control.append(elapsed)
        errors += not ok

    def note(part: list[float]) -> str:
        return f"control turns on short sessions at the same time: p50 {Sample('', part).p50:.2f} ms"

    first = Sample(f"one session, turns 1-{window}", latencies[:window], note=note(control[:window]))
    last = Sample(
        f"one session, turns {turns - window + 1}-{turns}",
        latencies[-window:],
        errors=errors,
        note=note(control[-window:]),
    )
    blocks = [Sample("", latencies[i : i + window]).p50 for i in range(0, turns, window)]
    return first, last, blocks


async def throughput(api: Api, clients: int, duration_s: float, server_pid: int | None) -> tuple[Sample, float]:
    """`clients` concurrent loops, each on its own session, for `duration_s`: (latencies + errors, turns/s)."""
    room_id = await api.room("manual", 1)
    sessions = await api.sessions(room_id, clients)
    await asyncio.gather(*(api.turn(s, message("manual", 0)) for s in sessions))  # warm every session
    sample = Sample(f"throughput, {clients} clients on {clients} sessions")
    completed = 0
    cpu_before = process_cpu_s(server_pid)
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
    cpu_after = process_cpu_s(server_pid)
    rate = completed / wall
    sample.note = f"{rate:.0f} turns/s over {wall:.1f} s, manual 1 agent, {sample.errors} errors (non-201)"
    if cpu_before is not None and cpu_after is not None and completed:
        cpu = cpu_after - cpu_before
        sample.note += f"; server process CPU {1000 * cpu / completed:.1f} ms/turn ({100 * cpu / wall:.0f}% of a core)"
    return sample, rate
