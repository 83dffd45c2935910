"""Section 10: one long session on a small-window simulated model, where session memory has to work:
summaries fold the older turns, pruning keeps every prompt within its budget, and a turn late in the
session costs what an early one does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.http_turns import API, Api
from bench.stats import Sample
from domain.budget import compute_budget

SMALL_ALIAS = "sim-small"
SMALL_WINDOW = 4096
# Written to the bench's data folder and named by PANTHEON_CONFIG for the server the bench starts.
CONFIG = f"""
[models.{SMALL_ALIAS}]
provider = "simulated"
provider_model = "pantheon-sim"
context_window = {SMALL_WINDOW}
"""


@dataclass
class LongSession:
    first: Sample
    last: Sample
    calls: int
    summary_calls: int
    max_prompt: int  # the largest prompt any agent call was sent (tokens, as the provider counted them)
    budget: int  # the small model's input budget
    over_budget: int  # agent calls whose prompt exceeded it (the target: none)


async def long_session(api: Api, turns: int = 300, window: int = 20) -> LongSession | None:
    """A roundtable of two agents on the small model, `turns` turns in one session."""
    models = (await api.client.get(f"{API}/models", headers=api.headers)).json()["items"]
    if not any(m["alias"] == SMALL_ALIAS for m in models):
        return None  # a server started elsewhere (--url) without the bench's config
    room = await api.room("roundtable", 2, model=SMALL_ALIAS)
    (session,) = await api.sessions(room, 1)
    # Each turn of the long session is followed by a control turn on a short session (<= 5 turns, no
    # summary yet), so that a change of background load shows in the control figures, not as growth.
    controls = await api.sessions(room, -(-turns // 5))
    latencies: list[float] = []
    control: list[float] = []
    errors = 0
    for i in range(turns):
        text = f"Point {i}: which risk of the launch should we weigh next, and why?"
        elapsed, ok = await api.turn(session, text)
        latencies.append(elapsed)
        errors += not ok
        elapsed, ok = await api.turn(controls[i // 5], text)
        control.append(elapsed)
        errors += not ok
    rows = await ledger(api, session)  # the long session's calls only
    budget = compute_budget(SMALL_WINDOW).input_budget
    agent_rows = [r for r in rows if r["purpose"] == "agent"]
    prompts = [r["input_tokens_fresh"] + r["input_tokens_cached"] for r in agent_rows]

    def note(part: list[float]) -> str:
        return f"control turns on short sessions at the same time: p50 {Sample('', part).p50:.2f} ms"

    return LongSession(
        first=Sample(
            f"long session (2 agents, {SMALL_ALIAS}), turns 1-{window}", latencies[:window], note=note(control[:window])
        ),
        last=Sample(
            f"long session (2 agents, {SMALL_ALIAS}), turns {turns - window + 1}-{turns}",
            latencies[-window:],
            errors=errors,
            note=note(control[-window:]),
        ),
        calls=len(rows),
        summary_calls=sum(r["purpose"] == "summary" for r in rows),
        max_prompt=max(prompts, default=0),
        budget=budget,
        over_budget=sum(p > budget for p in prompts),
    )


async def ledger(api: Api, session: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"session_id": session, "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get(f"{API}/usage/events", params=params, headers=api.headers)).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
