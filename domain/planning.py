"""Turn planning per mode: which agents answer, in which order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from domain.errors import NoAgents, NoValidTag, ValidationFailed
from domain.model import Mode
from domain.tags import parse_tags
from domain.turns import PlannedStep, RosterEntry, StepKind

ORCHESTRATOR_MAX_RUNS_PER_AGENT = 3
ORCHESTRATOR_MAX_AGENT_RUNS = 12


def _agent_steps(agents: Iterable[RosterEntry]) -> list[PlannedStep]:
    return [PlannedStep(index=i, kind=StepKind.AGENT, agent=agent) for i, agent in enumerate(agents)]


def plan_turn(mode: Mode, roster: Sequence[RosterEntry], message: str) -> list[PlannedStep]:
    """The agent steps of a turn, known up front for `manual` and `roundtable`.

    `orchestrator` returns an empty plan: its manager picks agents one decision at a time while the
    turn runs (see `validate_routing`), so no steps can be fixed in advance.
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


def validate_routing(
    decision_agent_keys: Sequence[str],
    roster_keys: Iterable[str],
    runs_so_far: Mapping[str, int],
    total_so_far: int,
) -> list[str]:
    """Check a manager's routing decision against the roster and the run caps; return the keys to run.

    Raises ValidationFailed for a key outside the roster, an agent that would run more than
    ORCHESTRATOR_MAX_RUNS_PER_AGENT times, or a turn that would exceed ORCHESTRATOR_MAX_AGENT_RUNS.
    """
    known = set(roster_keys)
    unknown = [key for key in decision_agent_keys if key not in known]
    if unknown:
        raise ValidationFailed(f"Unknown agents in routing decision: {', '.join(unknown)}.", extra=unknown)
    if total_so_far + len(decision_agent_keys) > ORCHESTRATOR_MAX_AGENT_RUNS:
        raise ValidationFailed(f"A turn runs at most {ORCHESTRATOR_MAX_AGENT_RUNS} agents.")
    runs = dict(runs_so_far)
    for key in decision_agent_keys:
        runs[key] = runs.get(key, 0) + 1
        if runs[key] > ORCHESTRATOR_MAX_RUNS_PER_AGENT:
            cap = ORCHESTRATOR_MAX_RUNS_PER_AGENT
            raise ValidationFailed(f"Agent {key} may run at most {cap} times per turn.", extra=[key])
    return list(decision_agent_keys)
