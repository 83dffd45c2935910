"""What wallets cost a turn: the same manual turn (1 sim agent) on two servers sharing one database,
one with wallets (the opening hold and the running-turn check at allocation, a reservation before
the call, the settlement in the step's commit) and one started with PANTHEON_WALLETS=false, measured
interleaved so that background load hits both alike.

`python -m bench.wallet [--quick]` runs only this part; `make bench` runs it with the other sections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

import httpx

from bench import http_turns
from bench.cases import Case, measure
from bench.infra import fresh_database, log, postgres, server
from bench.report import ms, table, times
from bench.stats import Sample, ratio

WALLETS_OFF = {"PANTHEON_WALLETS": "false"}
TARGET = 1.1  # wallets on / off at p50


async def wallet_cases(
    client_on: httpx.AsyncClient, client_off: httpx.AsyncClient, *, warmup: int, n: int
) -> list[Case]:
    cases = []
    for client, label in ((client_on, "with wallets"), (client_off, "PANTHEON_WALLETS=false")):
        api = http_turns.Api(client)
        await api.sign_up()
        cases.append(
            await http_turns.turn_case(
                api, f"HTTP turn, manual, 1 sim agent, {label}", "manual", 1, warmup=warmup, n=n, per_session=10
            )
        )
    return cases


def lines(on: Sample, off: Sample) -> list[str]:
    rows = [[s.label, str(s.n), ms(s.p50), ms(s.p95), f"{s.errors} errors"] for s in (on, off)]
    p50 = ratio(on.p50, off.p50)
    verdict = "met" if p50 <= TARGET else "NOT met"
    return [
        *table(["measurement", "n", "p50 ms", "p95 ms", "note"], rows, right={1, 2, 3}),
        "",
        f"wallets on / off: p50 {times(p50)}, p95 {times(ratio(on.p95, off.p95))} "
        f"(target <= {TARGET}x at p50 -> {verdict})",
    ]


async def run(base_on: str, base_off: str, *, warmup: int, n: int) -> tuple[Sample, Sample]:
    """Turn by turn, alternating between the two servers (the order swapped every turn), so that
    neither gets a quieter stretch of the box than the other."""
    async with (
        httpx.AsyncClient(base_url=base_on, timeout=60) as on,
        httpx.AsyncClient(base_url=base_off, timeout=60) as off,
    ):
        cases = await wallet_cases(on, off, warmup=warmup, n=n)
        for case in cases:
            for _ in range(case.warmup):
                await case.once()
        for i in range(n):
            for case in cases if i % 2 else cases[::-1]:
                await measure(case, 1)
    return cases[0].sample, cases[1].sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wallet", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg-admin-url")
    args = parser.parse_args(argv)
    warmup, n = (5, 40) if args.quick else (30, 300)
    with contextlib.ExitStack() as stack:
        admin_uri = stack.enter_context(postgres(args.pg_admin_url))
        database_url = fresh_database(admin_uri)
        base_on, _ = stack.enter_context(server(database_url))
        base_off, _ = stack.enter_context(server(database_url, extra_env=WALLETS_OFF, name="server-no-wallets"))
        log(f"wallets: {n} turns per server, interleaved")
        on, off = asyncio.run(run(base_on, base_off, warmup=warmup, n=n))
    print("\n".join(["## What wallets cost a turn", "", *lines(on, off)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
