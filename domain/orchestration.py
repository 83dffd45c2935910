"""Orchestrator mode's rules: the caps every manager decision is checked against, and what a turn says
about its routing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from domain.decisions import Decision, Finish, Orchestration
from domain.model import Mode
from domain.turns import RosterEntry, StepKind, StepStatus, TurnStep

MAX_RUNS_PER_AGENT = 3
MAX_AGENT_RUNS = 12
# Each manager step makes at most two calls (the decision and one repair), and a turn has at most one
# manager step per agent run plus the last one: a manager that never finishes cannot loop or bill forever.
MAX_MANAGER_CALLS = 2 * (MAX_AGENT_RUNS + 1)


def agent_runs(steps: Iterable[TurnStep]) -> Counter[str]:
    return Counter(s.agent_key for s in steps if s.kind is StepKind.AGENT and s.agent_key)


def refusal(decision: Decision, roster: Sequence[RosterEntry], earlier: Sequence[TurnStep]) -> str | None:
    """Why `decision` cannot be carried out in this turn, told to the manager; None when it can."""
    if isinstance(decision, Finish):
        return None if decision.reason.strip() else "A finish decision needs a reason."
    keys = [agent.agent_key for agent in roster]
    if decision.agent_key not in keys:
        return f"There is no agent {decision.agent_key!r} in this room; choose one of: {', '.join(keys)}."
    if not decision.instruction.strip():
        return "A call_agent decision needs an instruction for the agent."
    runs = agent_runs(earlier)
    if runs[decision.agent_key] >= MAX_RUNS_PER_AGENT:
        return f"{decision.agent_key} has already run {MAX_RUNS_PER_AGENT} times in this turn, the most allowed."
    if sum(runs.values()) >= MAX_AGENT_RUNS:
        return f"This turn has already run {MAX_AGENT_RUNS} agents, the most allowed: finish."
    return None


def orchestration_of(mode: Mode, steps: Iterable[TurnStep]) -> Orchestration | None:
    """What an orchestrated turn says about its routing (None for the other modes): it fell back when
    one of its manager steps could not produce a valid decision."""
    if mode is not Mode.ORCHESTRATOR:
        return None
    for step in steps:
        if step.kind is StepKind.MANAGER and step.status is StepStatus.FAILED:
            return Orchestration(fallback=True, reason=step.error.detail if step.error else None)
    return Orchestration(fallback=False)
