"""Section 12: streams. How long a provider's delta takes to reach a client's socket; what idle followers
of a running turn cost the server (CPU) and the database (queries); how much memory an open stream holds.

Latency, honestly: the `sim-slow` agents' role prompts hold `<<pantheon-sim:clock>>`, so the simulated
provider stamps each chunk with the wall-clock time it hands it to the turn (adapters/llm/simulated.py).
The client reads the clock again when the SSE line holding that chunk arrives; the difference is what
Pantheon adds between the provider and the wire (storing the event, waking followers, writing the
SSE), plus the client's own reading. Chunks come 150 ms apart, longer than EventLog's 100 ms flush
interval, so each is stored and sent on its own (a faster model's chunks wait up to 100 ms to be
merged: that is the batching policy, not the fan-out measured here). Three readers of the same turns:
the POST stream itself, a GET follower on the same server, a GET follower on a second server process
(woken by LISTEN/NOTIFY).

Idle followers: a turn `running` in another process (its row is written straight into the database,
heartbeat fresh) that says nothing while N clients follow it. Queries are the database's committed
transactions (pg_stat_database.xact_commit, all clients, minus the benchmark's own reads), CPU is the
server process's from /proc. RSS growth per stream is VmRSS with 200 streams open minus before, / 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.events import INSERT_EVENTS
from bench.http_turns import API, Api
from bench.infra import log, process_cpu_s, server
from bench.stats import Sample

CLOCK = "<<pantheon-sim:clock>>"
_STAMP = re.compile(r"\[t=(\d+)\]")
PATHS = ("POST stream, same process", "GET follower, same process", "GET follower, other process")
BEFORE = "GET follower, other process, before (polling)"


@dataclass
class IdleWindow:
    followers: int
    cpu_share: float  # of one core, server process
    queries_per_s: float  # committed transactions in the database, the benchmark's own excluded
    checkouts_per_s: float  # the server's pool checkouts


@dataclass
class Idle:
    windows: list[IdleWindow]
    rss_per_stream_kb: float
    rss_streams: int
    ended: int


@dataclass
class Streams:
    latency: dict[str, Sample] = field(default_factory=dict)
    idle: list[IdleWindow] = field(default_factory=list)
    rss_per_stream_kb: float = float("nan")
    rss_streams: int = 0
    ended: int = 0  # idle streams that got the terminal event when the turn ended
    floor: Sample | None = None
    before: Idle | None = None  # the same, served by an older source tree (`--before-ref`)


# Latency ----------------------------------------------------------------------------------------------


async def _read(response: httpx.Response, into: list[float]) -> None:
    """Milliseconds from each chunk's stamp to the arrival of the SSE line that carries it; chunks stamped
    before this reader was connected (its first page, read from the store) do not count."""
    connected, kind = time.time_ns(), ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "step_delta":
            now = time.time_ns()
            stamps = [int(t) for t in _STAMP.findall(json.loads(line[6:])["text"])]
            into += [(now - t) / 1e6 for t in stamps if t >= connected]


async def latency(api: Api, base: str, others: dict[str, str], turns: int, agents: int) -> dict[str, Sample]:
    """`others`: label -> base URL of another server process whose GET follower is measured too."""
    room = (
        await api.client.post(f"{API}/rooms", json={"name": "clock", "mode": "roundtable"}, headers=api.headers)
    ).json()
    for i in range(agents):
        body = {"agent_key": f"c{i}", "name": f"Clock {i}", "model": "sim-slow", "role_prompt": f"You time. {CLOCK}"}
        await api.client.post(f"{API}/rooms/{room['id']}/agents", json=body, headers=api.headers)
    session = (await api.client.post(f"{API}/rooms/{room['id']}/sessions", json={}, headers=api.headers)).json()["id"]
    found: dict[str, list[float]] = {path: [] for path in (*PATHS, *others)}
    async with httpx.AsyncClient(timeout=600) as streams:
        for _ in range(turns):
            stream = {**api.headers, "accept": "text/event-stream"}
            async with streams.stream(
                "POST", f"{base}{API}/sessions/{session}/turns", json={"message": "Tick."}, headers=stream
            ) as posted:
                running: list[str] = []
                while not running:
                    listed = await api.client.get(f"{API}/sessions/{session}/turns", headers=api.headers)
                    running = [t["id"] for t in listed.json()["items"] if t["status"] == "running"]
                turn_path = f"{API}/sessions/{session}/turns/{running[0]}/events"
                readers = [asyncio.ensure_future(_read(posted, found[PATHS[0]]))]
                for label, server_base in {PATHS[1]: base, **others}.items():
                    readers.append(asyncio.ensure_future(_follow(streams, server_base + turn_path, api, found[label])))
                await asyncio.gather(*readers)
    return {
        path: Sample(path, values, note=f"{turns} turns x {agents} sim-slow agents, 150 ms between chunks")
        for path, values in found.items()
        if values
    }


async def _follow(client: httpx.AsyncClient, url: str, api: Api, into: list[float]) -> None:
    async with client.stream("GET", url, headers=api.headers) as response:
        await _read(response, into)


# Idle followers ---------------------------------------------------------------------------------------


async def quiet_running_turn(pool: AsyncConnectionPool, user_id: str) -> tuple[str, str]:
    """A room, a session and a turn `running` with one event, as if another process ran it and it waited
    on a slow provider; its heartbeat is in the future, so no server adopts it."""
    room, session, turn = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    roster = [{"agent_key": "q", "name": "Quiet", "model": "sim", "role_prompt": "x", "position": 0}]
    plan = [{"index": 0, "kind": "agent", "agent": roster[0]}]
    started = {"turn_id": str(turn), "seq": 1, "turn_index": 0, "mode": "roundtable"}
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO rooms (id, owner_id, name, current_mode, created_at, updated_at)"
            " VALUES (%s, %s, 'quiet', 'roundtable', now(), now())",
            (room, user_id),
        )
        await conn.execute(
            "INSERT INTO sessions (id, room_id, user_id, created_at, turn_count) VALUES (%s, %s, %s, now(), 1)",
            (session, room, user_id),
        )
        await conn.execute(
            "INSERT INTO turns (id, session_id, user_id, room_id, turn_index, mode, status, user_message, roster,"
            " plan, pricing_version, created_at, heartbeat_at) VALUES (%s, %s, %s, %s, 0, 'roundtable', 'running',"
            " 'wait', %s, %s, '2026-02-20', %s, %s)",
            (turn, session, user_id, room, json.dumps(roster), json.dumps(plan), now, now + timedelta(hours=1)),
        )
        await conn.execute(
            "INSERT INTO turn_events (turn_id, seq, type, payload, created_at)"
            " VALUES (%s, 1, 'turn_started', %s, now())",
            (turn, json.dumps(started)),
        )
    return str(session), str(turn)


async def end_turn(pool: AsyncConnectionPool, turn: str, seq: int = 2) -> None:
    failed = {"turn_id": turn, "seq": seq, "error": {"code": "bench_done", "detail": "the benchmark ended it"}}
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("UPDATE turns SET status = 'failed', completed_at = now() WHERE id = %s", (turn,))
        await conn.execute(
            "INSERT INTO turn_events (turn_id, seq, type, payload, created_at)"
            " VALUES (%s, %s, 'turn_failed', %s, now())",
            (turn, seq, json.dumps(failed)),
        )


async def _commits(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        row = await (
            await conn.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        ).fetchone()
    return int(row["xact_commit"])


def rss_kb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    return float("nan")


async def _checkouts(api: Api, base: str | None) -> float:
    """The server's pool checkouts so far; NaN when it cannot say (503: its pool exhausted)."""
    response = await api.client.get(f"{base}/healthz" if base else "/healthz")
    return float(response.json()["pool"]["checkouts"]) if response.status_code == 200 else float("nan")


async def _window(
    api: Api, pool: AsyncConnectionPool, pid: int | None, followers: int, seconds: float, base: str | None
) -> IdleWindow:
    checkouts = await _checkouts(api, base)
    commits, cpu, started = await _commits(pool), process_cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    commits_after, cpu_after = await _commits(pool), process_cpu_s(pid)
    checkouts_after = await _checkouts(api, base)
    share = (cpu_after - cpu) / elapsed if cpu is not None and cpu_after is not None else float("nan")
    # Our own reads: two of pg_stat_database (one per side) and /healthz's own checkout.
    return IdleWindow(
        followers=followers,
        cpu_share=share,
        queries_per_s=max(0, commits_after - commits - 1) / elapsed,
        checkouts_per_s=max(0, checkouts_after - checkouts - 1) / elapsed,
    )


async def idle_followers(
    api: Api,
    base: str,
    pool: AsyncConnectionPool,
    pid: int | None,
    counts: tuple[int, ...],
    seconds: float,
) -> tuple[list[IdleWindow], float, int, int]:
    """Windows with 0 and each of `counts` followers; (windows, RSS KB per stream at counts[0], that count,
    streams that saw the turn end)."""
    user_id = (await api.client.get(f"{API}/me", headers=api.headers)).json()["id"]
    session, turn = await quiet_running_turn(pool, user_id)
    path = f"{base}{API}/sessions/{session}/turns/{turn}/events"
    windows = [await _window(api, pool, pid, 0, seconds, base)]
    rss_before, rss_per_stream = rss_kb(pid), float("nan")
    limits = httpx.Limits(max_connections=max(counts) + 10, max_keepalive_connections=0)
    ended = 0
    async with httpx.AsyncClient(timeout=600, limits=limits) as crowd:
        opened = asyncio.Semaphore(0)

        async def follow() -> bool:
            try:
                async with crowd.stream("GET", path, headers=api.headers) as response:
                    opened.release()
                    body = b"".join([chunk async for chunk in response.aiter_bytes()])
            except httpx.HTTPError:  # an overwhelmed server drops some
                return False
            return b"event: turn_failed" in body

        tasks: list[asyncio.Future[bool]] = []
        for count in counts:
            new = [asyncio.ensure_future(follow()) for _ in range(count - len(tasks))]
            tasks += new
            for _ in new:
                await asyncio.wait_for(opened.acquire(), 120)
            await asyncio.sleep(1.0)  # every stream has sent its first page and joined the turn's feed
            if count == counts[0]:
                rss_per_stream = (rss_kb(pid) - rss_before) / count
            log(f"section 12: {count} idle followers")
            windows.append(await _window(api, pool, pid, count, seconds, base))
        await end_turn(pool, turn)
        ended = sum(await asyncio.wait_for(asyncio.gather(*tasks), 120))
    return windows, rss_per_stream, counts[0], ended


async def store_floor(pool: AsyncConnectionPool, api: Api, n: int) -> Sample:
    """The write every delta makes before anyone may see it: one event INSERT (and its commit, which
    also sends the notice), timed from here; no reader is following this turn."""
    user_id = (await api.client.get(f"{API}/me", headers=api.headers)).json()["id"]
    _, turn = await quiet_running_turn(pool, user_id)
    sample = Sample("one event stored (INSERT + commit + NOTIFY), from the benchmark process")
    for seq in range(2, n + 2):
        data = {"turn_id": turn, "seq": seq, "index": 0, "text": "three words here "}
        events = json.dumps([{"seq": seq, "type": "step_delta", "data": data}])
        started = time.perf_counter()
        async with pool.connection() as conn:
            await conn.execute(INSERT_EVENTS, {"turn_id": turn, "events": events, "at": datetime.now(UTC)})
        sample.values.append((time.perf_counter() - started) * 1000)
    await end_turn(pool, turn, n + 2)
    return sample


async def run(
    api: Api,
    pool: AsyncConnectionPool,
    database_url: str,
    *,
    turns: int,
    agents: int,
    idle_counts: tuple[int, ...],
    seconds: float,
    before: Path | None = None,
) -> Streams:
    """Section 12 against the benchmark's own server (it runs the turns) and a second, fresh server
    process (followers from another process; idle followers); `before` adds a third one running an
    older source tree, whose followers poll, measured alike."""
    result = Streams()
    base = str(api.client.base_url).rstrip("/")
    with contextlib.ExitStack() as stack:
        log("section 12: a second server process for the cross-process and idle followers")
        other = stack.enter_context(server(database_url, name="server-2"))
        others = {PATHS[2]: other[0]}
        old: tuple[str, int] | None = None
        if before is not None:
            old = stack.enter_context(server(database_url, src=before, name="server-before"))
            others[BEFORE] = old[0]
        log(f"section 12: delta-to-wire latency, {turns} turns of {agents} sim-slow agents")
        result.latency = await latency(api, base, others, turns, agents)
        result.floor = await store_floor(pool, api, 200)
        await asyncio.sleep(2.0)  # the turns above leave some housekeeping behind (their threads pruned)
        windows, per_stream, at, ended = await idle_followers(api, other[0], pool, other[1], idle_counts, seconds)
        result.idle, result.rss_per_stream_kb, result.rss_streams, result.ended = windows, per_stream, at, ended
        if old is not None:
            log("section 12: idle followers on the server running the older code")
            windows, per_stream, at, ended = await idle_followers(api, old[0], pool, old[1], idle_counts, seconds)
            result.before = Idle(windows, per_stream, at, ended)
    return result


# Report -----------------------------------------------------------------------------------------------


def report_lines(found: Streams | None, table: Any) -> list[str]:
    if found is None:
        return []
    out = ["", "Section 12, streams: added latency from a provider delta to the SSE line read by a client:", ""]
    samples = [*found.latency.values(), *([found.floor] if found.floor else [])]
    rows = [[s.label, str(s.n), f"{s.p50:.2f}", f"{s.p95:.2f}", s.note] for s in samples]
    out += table(["reader", "n", "p50 ms", "p95 ms", "note"], rows, right={1, 2, 3})
    out += [
        "",
        "Idle followers, on a server process of their own, of one running turn that stays quiet: "
        f"RSS growth {found.rss_per_stream_kb:.1f} KB per stream at {found.rss_streams} streams; "
        f"{found.ended} streams ended with the turn's terminal event:",
        "",
    ]
    rows = [["", *_cells(w)] for w in found.idle]
    if found.before is not None:
        rows = [["after", *_cells(w)] for w in found.idle] + [
            ["before (polling)", *_cells(w)] for w in found.before.windows
        ]
    header = ["code", "followers", "server CPU (share of a core)", "database commits/s", "pool checkouts/s"]
    out += table(header, rows, {1, 2, 3, 4})
    if found.before is not None:
        out += [
            "",
            f"Before (polling): RSS growth {found.before.rss_per_stream_kb:.1f} KB per stream at "
            f"{found.before.rss_streams} streams; {found.before.ended} streams ended with the turn.",
        ]
    return out


def _cells(w: IdleWindow) -> list[str]:
    checkouts = "- (pool exhausted)" if math.isnan(w.checkouts_per_s) else f"{w.checkouts_per_s:.1f}"
    return [str(w.followers), f"{w.cpu_share:.1%}", f"{w.queries_per_s:.1f}", checkouts]


def targets(found: Streams | None) -> list[tuple[str, bool | None]]:
    if found is None:
        return []
    out: list[tuple[str, bool | None]] = []
    for sample in found.latency.values():
        out.append((f"p50 added latency <= 5 ms, {sample.label}: {sample.p50:.2f} ms", sample.p50 <= 5.0))
    most = max(found.idle, key=lambda w: w.followers)
    out.append((f"{most.followers} idle followers <= 5 % of a core: {most.cpu_share:.1%}", most.cpu_share <= 0.05))
    base = min(found.idle, key=lambda w: w.followers)
    extra = most.queries_per_s - base.queries_per_s
    out.append((f"{most.followers} idle followers ~ 0 queries/s (over none): {extra:+.1f}/s", extra <= 0.5))
    out.append((f"<= 100 KB RSS per stream: {found.rss_per_stream_kb:.1f} KB", found.rss_per_stream_kb <= 100))
    return out
