"""Turn planning per mode: which agents answer, in which order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from domain.decisions import CallAgent
from domain.errors import NoAgents, NoValidTag
from domain.model import Mode
from domain.orchestration import MAX_AGENT_RUNS
from domain.tags import parse_tags
from domain.turns import PlannedStep, RosterEntry, StepKind, TurnStep


def _agent_steps(agents: Iterable[RosterEntry]) -> list[PlannedStep]:
    return [PlannedStep(index=i, kind=StepKind.AGENT, agent=agent) for i, agent in enumerate(agents)]


def plan_turn(mode: Mode, roster: Sequence[RosterEntry], message: str) -> list[PlannedStep]:
    """The agent steps of a turn, known up front for `manual` and `roundtable`.

    `orchestrator` returns an empty plan: its manager picks agents one decision at a time while the
    turn runs (see next_step), so no steps can be fixed in advance.
    Raises NoAgents for an empty roster (before looking at tags) and NoValidTag in manual mode when
    the message tags no agent of the roster.
    """
    if not roster:
        raise NoAgents("This room has no agents.")
    if mode is Mode.MANUAL:
        by_key = {agent.agent_key: agent for agent in roster}
        keys = parse_tags(message, by_key)
        if not keys:
            raise NoValidTag("Tag at least one agent of this room as @agent_key.")
        return _agent_steps(by_key[key] for key in keys)
    if mode is Mode.ROUNDTABLE:
        # The key breaks position ties so the order never depends on how the roster was loaded.
        return _agent_steps(sorted(roster, key=lambda agent: (agent.position, agent.agent_key)))
    return []


def next_step(
    mode: Mode, plan: Sequence[PlannedStep], roster: Sequence[RosterEntry], steps: Sequence[TurnStep]
) -> PlannedStep | None:
    """The step that comes after `steps`, or None when the turn is done.

    `manual` and `roundtable` follow their plan. `orchestrator` alternates: the manager decides, the
    agent it called answers, the manager decides again; a `finish` decision, or the run cap, leads to
    the manager's synthesis, the last step. Decisions were validated when their step ran.
    """
    index = len(steps)
    if mode is not Mode.ORCHESTRATOR:
        return plan[index] if index < len(plan) else None
    last = steps[-1] if steps else None
    if last is None or last.kind is StepKind.AGENT:
        if sum(1 for s in steps if s.kind is StepKind.AGENT) >= MAX_AGENT_RUNS:
            return PlannedStep(index=index, kind=StepKind.SYNTHESIS)
        return PlannedStep(index=index, kind=StepKind.MANAGER)
    if last.kind is StepKind.MANAGER:
        decision = last.decision
        agent = next((a for a in roster if isinstance(decision, CallAgent) and a.agent_key == decision.agent_key), None)
        if isinstance(decision, CallAgent) and agent is not None:
            return PlannedStep(index=index, kind=StepKind.AGENT, agent=agent, instruction=decision.instruction)
        return PlannedStep(index=index, kind=StepKind.SYNTHESIS)
    return None  # the synthesis was the last step
