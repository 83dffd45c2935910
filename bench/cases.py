"""Measured cases, run interleaved in rounds so that a change of background load hits every case alike."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.infra import log
from bench.stats import Sample


@dataclass
class Case:
    sample: Sample
    once: Callable[[], Awaitable[bool]]  # one timed operation; False counts as an error
    warmup: int
    n: int


async def measure(case: Case, count: int) -> None:
    for _ in range(count):
        started = time.perf_counter()
        ok = await case.once()
        elapsed = (time.perf_counter() - started) * 1000
        if ok:
            case.sample.values.append(elapsed)
        else:
            case.sample.errors += 1


async def run_interleaved(cases: list[Case], rounds: int) -> None:
    """Warm every case up, then run each `rounds` times, a `1/rounds` share of its `n` at a time."""
    for case in cases:
        for _ in range(case.warmup):
            await case.once()
    for r in range(rounds):
        log(f"sections 1-4: round {r + 1}/{rounds}")
        for case in cases:
            share = case.n // rounds + (case.n % rounds if r == rounds - 1 else 0)
            await measure(case, share)
