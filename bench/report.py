"""The report: Markdown tables padded to align in a terminal too, then one line per target."""

from __future__ import annotations

import math

from bench import openai_facade, streams
from bench.plan import Plan, Results
from bench.stats import Sample, ratio

# Figures of the issue, measured on a 2-core box, shown beside ours for orientation.
REFERENCE = {
    ("lg", 1, None): "ref. 2-core box: ~11.6 ms",
    ("lg", 5, None): "ref. 2-core box: ~26.7 ms",
    ("sql", 1): "ref. 2-core box: ~1.1 ms",
    ("sql", 5): "ref. 2-core box: ~1.9 ms",
}


def ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def times(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return [line(header), rule, *(line(r) for r in rows)]


def sample_row(key: str, sample: Sample | None, note: str = "") -> list[str]:
    if sample is None:
        return [key, "(not run)", "", "", "", ""]
    notes = [n for n in (sample.note, note) if n]
    if sample.errors and "errors" not in sample.note:
        notes.append(f"{sample.errors} errors (non-201)")
    return [key, sample.label, str(sample.n), ms(sample.p50), ms(sample.p95), "; ".join(notes)]


def render(results: Results, plan: Plan) -> str:
    env = results.env
    lg, sql = results.langgraph, results.sql
    out = [
        "## Pantheon turn benchmark (`make bench`)",
        "",
        f"{env.get('cpus')} CPUs, Python {env.get('python')}, PostgreSQL {env.get('postgres')}, "
        f"langgraph {env.get('langgraph')}, langgraph-checkpoint-postgres {env.get('checkpoint-postgres')}, "
        f"psycopg {env.get('psycopg')}; {env.get('date')}; load average (1/5/15 min) "
        f"{env.get('load')} at start, {env.get('load_end')} at end.",
        f"Server: {env.get('server')}. Model alias `sim` (zero latency); latencies are client-side wall times "
        "of `POST /sessions/{id}/turns` over one keep-alive httpx client. Sections 1-4 ran interleaved in "
        f"{plan.rounds} rounds so that background load hits every case alike; floors ran in the benchmark process.",
        "",
    ]
    rows = [sample_row("1", results.manual), sample_row("2", results.roundtable)]
    rows += [sample_row("2b", results.orchestrator), sample_row("2c", results.roundtable3)]
    for key, (nodes, durability) in zip("abcd", [(1, None), (1, "exit"), (5, None), (5, "exit")], strict=True):
        rows.append(sample_row(f"3{key}", lg.get((nodes, durability)), REFERENCE.get(("lg", nodes, durability), "")))
    for key, steps in zip("ab", (1, 5), strict=True):
        rows.append(sample_row(f"4{key}", sql.get(steps), REFERENCE.get(("sql", steps), "")))
    first = last = None
    if results.growth:
        first, last, _ = results.growth
    rows += [sample_row("6a", first), sample_row("6b", last)]
    long = results.long_session
    rows += [sample_row("10a", long.first if long else None), sample_row("10b", long.last if long else None)]
    rows.append(sample_row("7", results.throughput[0] if results.throughput else None))
    on, off = results.wallet or (None, None)
    rows += [sample_row("1w", on), sample_row("1x", off)]
    out += table(["#", "measurement", "n", "p50 ms", "p95 ms", "note"], rows, right={2, 3, 4})

    def pair(a: Sample | None, b: Sample | None) -> tuple[float, float]:
        if a is None or b is None:
            return math.nan, math.nan
        return ratio(a.p50, b.p50), ratio(a.p95, b.p95)

    ratios = {
        "5a": ("HTTP manual / bare LangGraph 1 node (default durability)", pair(results.manual, lg.get((1, None)))),
        "5b": (
            "HTTP roundtable / bare LangGraph 5 nodes (default durability)",
            pair(results.roundtable, lg.get((5, None))),
        ),
        "5c": ("HTTP manual / raw SQL floor 1 step", pair(results.manual, sql.get(1))),
        "5d": ("HTTP roundtable / raw SQL floor 5 steps", pair(results.roundtable, sql.get(5))),
        "5e": ("HTTP manual / bare LangGraph 1 node, durability exit", pair(results.manual, lg.get((1, "exit")))),
        "5f": (
            "HTTP roundtable / bare LangGraph 5 nodes, durability exit",
            pair(results.roundtable, lg.get((5, "exit"))),
        ),
        "5g": (
            "HTTP orchestrator, 3 agent runs / roundtable, 3 agents (8 calls / 3)",
            pair(results.orchestrator, results.roundtable3),
        ),
        "5h": ("HTTP manual with wallets / with PANTHEON_WALLETS=false (1w / 1x)", pair(on, off)),
        "6": (f"one session: turns {plan.growth_turns - 19}-{plan.growth_turns} / turns 1-20", pair(last, first)),
        "10": (
            f"long session, small window: turns {plan.long_session_turns - 19}-{plan.long_session_turns} / 1-20",
            pair(long.last, long.first) if long else (math.nan, math.nan),
        ),
    }
    out += [
        "",
        *table(
            ["#", "ratio", "p50", "p95"],
            [[k, label, times(a), times(b)] for k, (label, (a, b)) in ratios.items()],
            right={2, 3},
        ),
    ]
    if results.growth:
        blocks = " ".join(ms(b) for b in results.growth[2])
        out += ["", f"Section 6, p50 per block of 20 turns of the long session (ms): {blocks}"]

    if long:
        share = long.summary_calls / long.calls if long.calls else math.nan
        out += [
            "",
            f"Section 10, session memory: {long.calls} calls, of which {long.summary_calls} summaries "
            f"({share:.1%}); largest agent prompt {long.max_prompt} tokens of a {long.budget}-token input "
            f"budget; {long.over_budget} agent calls over it.",
        ]

    out += resilience_tables(results)
    out += openai_facade.report_lines(results.facade)
    out += streams.report_lines(results.streams, table)
    if results.stop is not None:  # section 13 (bench/stop_latency.py)
        out += [
            "",
            "Section 13, a `now` stop to the provider's connection closing (loopback model, a word every 50 ms):",
            "",
        ]
        out += table(
            ["#", "measurement", "n", "p50 ms", "p95 ms", "note"],
            [sample_row("13a", results.stop.here), sample_row("13b", results.stop.elsewhere)],
            right={2, 3, 4},
        )
    rate = results.throughput[1] if results.throughput else math.nan

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    def at_most(value: float, limit: float) -> bool | None:
        return None if math.isnan(value) else value <= limit

    targets = [
        (
            f"HTTP turn <= bare LangGraph, 1 agent (p50 ratio <= 1.0): {times(ratios['5a'][1][0])}",
            at_most(ratios["5a"][1][0], 1.0),
        ),
        (
            f"HTTP turn <= bare LangGraph, 5 agents (p50 ratio <= 1.0): {times(ratios['5b'][1][0])}",
            at_most(ratios["5b"][1][0], 1.0),
        ),
        (
            f"HTTP turn <= 3x raw SQL floor, 1 agent (aim): {times(ratios['5c'][1][0])}",
            at_most(ratios["5c"][1][0], 3.0),
        ),
        (
            f"HTTP turn <= 3x raw SQL floor, 5 agents (aim): {times(ratios['5d'][1][0])}",
            at_most(ratios["5d"][1][0], 3.0),
        ),
        (
            f"wallets cost <= 1.1x a turn (p50 ratio 1w / 1x): {times(ratios['5h'][1][0])}",
            at_most(ratios["5h"][1][0], 1.1),
        ),
        (f"turn 200 <= 1.25x turn 1 (p50 of 20): {times(ratios['6'][1][0])}", at_most(ratios["6"][1][0], 1.25)),
        (
            f"long session: turns {plan.long_session_turns - 19}-{plan.long_session_turns} <= 1.25x turns 1-20 "
            f"(p50 of 20, small window): {times(ratios['10'][1][0])}",
            at_most(ratios["10"][1][0], 1.25),
        ),
        (
            f"every prompt of the long session within its budget: "
            f"{'-' if not long else f'{long.over_budget} over, largest {long.max_prompt} / {long.budget}'}",
            None if not long else long.over_budget == 0,
        ),
        (
            f">= 200 single-agent turns/s with {plan.clients} clients: {'-' if math.isnan(rate) else f'{rate:.0f}'}",
            None if math.isnan(rate) else rate >= 200,
        ),
    ]
    for outage in results.recovery:
        targets.append(
            (
                f"first turn within ~2 s of the database returning ({outage.outage_s:.0f} s outage): "
                f"{outage.first_turn_ms / 1000:.2f} s",
                outage.first_turn_ms <= 2000,
            )
        )
    targets += streams.targets(results.streams)
    out += ["", "Targets (informational, not asserted):", ""]
    out += [f"- {text} -> {verdict(ok)}" for text, ok in targets]
    return "\n".join(out)


def resilience_tables(results: Results) -> list[str]:
    out: list[str] = []
    f = results.followers
    if f is not None:
        rows = [[str(n), f"{f.checkouts_per_s[n]:.0f}", f"{f.cpu_share[n]:.1%}"] for n in sorted(f.checkouts_per_s)]
        out += [
            "",
            f"Section 8, one running `sim-slow` turn followed by idle clients on GET …/events, "
            f"{f.seconds:.0f} s windows (server pool checkouts from /healthz, CPU from /proc):",
            "",
            *table(["followers", "pool checkouts/s", "server CPU (share of a core)"], rows, right={0, 1, 2}),
        ]
    if results.recovery:
        rows = [[f"{r.outage_s:.0f}", f"{r.refused_ms:.0f}", f"{r.first_turn_ms:.0f}"] for r in results.recovery]
        out += [
            "",
            "Section 9, the database stopped (`pg_ctl -m fast`) and started again:",
            "",
            *table(
                ["outage s", "503 during the outage after ms", "first 201 turn after restart, ms"],
                rows,
                right={0, 1, 2},
            ),
        ]
    return out
