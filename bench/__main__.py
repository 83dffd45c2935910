"""`python -m bench` — see bench/__init__.py. Prints a Markdown report on stdout; progress goes to stderr."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import sys
import traceback
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import httpx

from bench import floors, http_turns, memory, openai_facade, resilience, stop_latency, streams, wallet
from bench.cases import run_interleaved
from bench.infra import DATA_DIR, fresh_database, log, postgres, server, source_tree, wait_healthy
from bench.plan import Plan, Results
from bench.report import render


async def run_all(
    base: str,
    database_url: str,
    plan: Plan,
    results: Results,
    server_pid: int | None,
    postgres: Any,
    only_streams: bool = False,
    before: Any = None,
    base_no_wallets: str | None = None,
) -> None:
    pool = floors.open_pool(database_url)
    await pool.open(wait=True, timeout=30)
    # Idle connections expire before uvicorn's 5 s keep-alive timeout closes them under a request.
    limits = httpx.Limits(
        max_connections=plan.clients * 2, max_keepalive_connections=plan.clients * 2, keepalive_expiry=2.0
    )
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=60.0, limits=limits) as client,
            httpx.AsyncClient(base_url=base_no_wallets or base, timeout=60.0) as client_no_wallets,
        ):
            async with pool.connection() as conn:
                row = await (await conn.execute("SHOW server_version")).fetchone()
                results.env["postgres"] = str(row["server_version"]) if row else "?"
            api = http_turns.Api(client)
            await api.sign_up()
            if only_streams:
                await _streams(api, base, pool, server_pid, database_url, plan, results, before)
                return
            manual = await http_turns.turn_case(
                api,
                "HTTP turn, manual, 1 sim agent",
                "manual",
                1,
                warmup=plan.manual_warmup,
                n=plan.manual_n,
                per_session=plan.per_session,
            )
            roundtable = await http_turns.turn_case(
                api,
                "HTTP turn, roundtable, 5 sim agents",
                "roundtable",
                5,
                warmup=plan.roundtable_warmup,
                n=plan.roundtable_n,
                per_session=plan.per_session,
            )
            orchestrator = await http_turns.turn_case(
                api,
                "HTTP turn, orchestrator, 3 agent runs (sim manager)",
                "orchestrator",
                3,
                warmup=plan.orchestrator_warmup,
                n=plan.orchestrator_n,
                per_session=plan.per_session,
            )
            roundtable3 = await http_turns.turn_case(
                api,
                "HTTP turn, roundtable, 3 sim agents",
                "roundtable",
                3,
                warmup=plan.orchestrator_warmup,
                n=plan.orchestrator_n,
                per_session=plan.per_session,
            )
            bare = {
                (nodes, durability): floors.bare_case(
                    pool, nodes, durability=durability, warmup=plan.lg_warmup, n=plan.lg_n[nodes]
                )
                for nodes in (1, 5)
                for durability in (None, "exit")
            }
            sql = {steps: await floors.sql_case(pool, steps, warmup=plan.sql_warmup, n=plan.sql_n) for steps in (1, 5)}
            # Section 1w: the same manual turn on a server with PANTHEON_WALLETS=false (bench/wallet.py).
            wallets = (
                await wallet.wallet_cases(client, client_no_wallets, warmup=plan.manual_warmup, n=plan.manual_n)
                if base_no_wallets
                else []
            )
            log("sections 1-4: warming up")
            cases = [manual, roundtable, orchestrator, roundtable3, *bare.values(), *sql.values(), *wallets]
            await run_interleaved(cases, plan.rounds)
            if wallets:
                results.wallet = (wallets[0].sample, wallets[1].sample)
            results.manual, results.roundtable = manual.sample, roundtable.sample
            results.orchestrator, results.roundtable3 = orchestrator.sample, roundtable3.sample
            results.langgraph = {key: case.sample for key, case in bare.items()}
            results.sql = {key: case.sample for key, case in sql.items()}
            log("section 11: the OpenAI-compatible facade vs the native route, 1-agent turns in alternation")
            results.facade = await openai_facade.compare(
                api, warmup=plan.facade_warmup, n=plan.facade_n, per_session=plan.per_session
            )
            log(f"section 6: one session of {plan.growth_turns} turns")
            results.growth = await http_turns.session_growth(api, plan.growth_turns)
            log(f"section 10: one session of {plan.long_session_turns} turns on a small-window model")
            results.long_session = await memory.long_session(api, plan.long_session_turns)
            log(f"section 7: throughput, {plan.clients} clients for {plan.duration_s:.0f} s")
            results.throughput = await http_turns.throughput(api, plan.clients, plan.duration_s, server_pid)
            log(f"section 8: {plan.followers} idle followers of a running turn")
            results.followers = await resilience.followers(
                api, base, server_pid, plan.followers, plan.followers_window_s
            )
            await _streams(api, base, pool, server_pid, database_url, plan, results, before)
            log(f"section 13: {plan.stops} stops of each kind, to the provider's connection closing")
            results.stop = await stop_latency.stop_latency(database_url, base, plan.stops)
            if postgres is not None:
                for outage_s in plan.outages_s:
                    log(f"section 9: the database stopped for {outage_s:.0f} s")
                    results.recovery.append(await resilience.recovery(api, postgres, outage_s))
    finally:
        await pool.close()


async def _streams(
    api: Any, base: str, pool: Any, pid: int | None, database_url: str, plan: Plan, results: Results, before: Any
) -> None:
    if pid is None:  # section 12 starts more servers on the benchmark's own database
        log("section 12 skipped: it needs the benchmark's own server")
        return
    results.streams = await streams.run(
        api,
        pool,
        database_url,
        turns=plan.stream_turns,
        agents=plan.stream_agents,
        idle_counts=plan.idle_counts,
        seconds=plan.idle_window_s,
        before=before,
    )


def environment(results: Results, server_url: str) -> None:
    results.env |= {
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "langgraph": version("langgraph"),
        "checkpoint-postgres": version("langgraph-checkpoint-postgres"),
        "psycopg": version("psycopg"),
        "server": server_url,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--url", help="use this running server (e.g. http://127.0.0.1:8000) instead of starting one")
    parser.add_argument(
        "--pg-admin-url",
        help="admin URL of a PostgreSQL server to use instead of the embedded one "
        "(the database `pantheon_bench` is dropped and recreated in it)",
    )
    parser.add_argument("--quick", action="store_true", help="a few turns per section, to check the harness")
    parser.add_argument("--streams-only", action="store_true", help="run only section 12 (streams)")
    parser.add_argument(
        "--before-ref",
        help="also measure section 12's followers on a server running this commit (e.g. main), for before/after",
    )
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    results = Results()
    # Ctrl-C and SIGTERM end the run: every context below stops what it started. SIGINT is set explicitly
    # because a shell starting us in the background would leave it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with contextlib.ExitStack() as stack:
            admin_uri = stack.enter_context(postgres(args.pg_admin_url))
            log("recreating and migrating database pantheon_bench")
            database_url = fresh_database(admin_uri)
            pid: int | None = None
            # Section 9 stops and starts the database: only the bench's own embedded one, under its own server.
            stoppable = None if args.url or args.pg_admin_url else resilience.stoppable(DATA_DIR)
            if args.url:
                base = args.url.rstrip("/")
                wait_healthy(base, 10)
                environment(results, f"{base} (given; floors ran on the bench's own database)")
            else:
                base, pid = stack.enter_context(server(database_url, config=memory.CONFIG))
                environment(results, f"pantheon serve, pid {pid}, same database as the floors")
            before = source_tree(args.before_ref) if args.before_ref else None
            no_wallets = None
            if not args.url and not args.streams_only:  # the same server with PANTHEON_WALLETS=false
                no_wallets, _ = stack.enter_context(
                    server(database_url, config=memory.CONFIG, extra_env=wallet.WALLETS_OFF, name="server-no-wallets")
                )
            asyncio.run(
                run_all(base, database_url, plan, results, pid, stoppable, args.streams_only, before, no_wallets)
            )
            results.env["load_end"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except KeyboardInterrupt:
        log("interrupted; everything started by the benchmark was stopped")
        return 130
    except Exception as exc:
        traceback.print_exc()
        log(f"the run broke: {type(exc).__name__}: {exc}")
        return 1
    print(render(results, plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
