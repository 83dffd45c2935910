import pytest

from domain.errors import NoAgents, NoValidTag, ValidationFailed
from domain.model import Mode
from domain.planning import (
    ORCHESTRATOR_MAX_AGENT_RUNS,
    ORCHESTRATOR_MAX_RUNS_PER_AGENT,
    plan_turn,
    validate_routing,
)
from domain.turns import RosterEntry, StepKind


def entry(key: str, position: int) -> RosterEntry:
    return RosterEntry(agent_key=key, name=key.title(), model="sim", role_prompt=f"You are {key}.", position=position)


ROSTER = [entry("carol", 2), entry("alice", 0), entry("bob", 1)]


def keys(steps):
    return [step.agent.agent_key for step in steps]


def test_caps():
    assert ORCHESTRATOR_MAX_RUNS_PER_AGENT == 3
    assert ORCHESTRATOR_MAX_AGENT_RUNS == 12


def test_manual_plans_tagged_agents_in_order_of_first_mention():
    steps = plan_turn(Mode.MANUAL, ROSTER, "@carol first, then @alice, and @carol again; @nobody")
    assert keys(steps) == ["carol", "alice"]
    assert [step.index for step in steps] == [0, 1]
    assert all(step.kind is StepKind.AGENT for step in steps)
    assert steps[0].agent == ROSTER[0]


def test_manual_without_valid_tag_raises():
    with pytest.raises(NoValidTag) as info:
        plan_turn(Mode.MANUAL, ROSTER, "hello @nobody, mail carol@alice.com")
    assert info.value.code == "no_valid_tag"


@pytest.mark.parametrize("mode", list(Mode))
def test_empty_roster_raises_no_agents_before_tags(mode):
    with pytest.raises(NoAgents) as info:
        plan_turn(mode, [], "no tag at all")
    assert info.value.code == "no_agents"


def test_roundtable_runs_everyone_by_position():
    steps = plan_turn(Mode.ROUNDTABLE, ROSTER, "no tags needed")
    assert keys(steps) == ["alice", "bob", "carol"]
    assert [step.index for step in steps] == [0, 1, 2]
    assert all(step.kind is StepKind.AGENT for step in steps)


def test_roundtable_ignores_tags():
    assert keys(plan_turn(Mode.ROUNDTABLE, ROSTER, "@carol only")) == ["alice", "bob", "carol"]


def test_roundtable_breaks_position_ties_by_key():
    roster = [entry("zed", 5), entry("amy", 5), entry("max", 1)]
    assert keys(plan_turn(Mode.ROUNDTABLE, roster, "hi")) == ["max", "amy", "zed"]


def test_orchestrator_plans_nothing_up_front():
    assert plan_turn(Mode.ORCHESTRATOR, ROSTER, "@alice please") == []


def test_routing_accepts_a_valid_decision_including_repeats():
    assert validate_routing(["bob", "alice", "bob"], ["alice", "bob"], {"bob": 1}, 1) == [
        "bob",
        "alice",
        "bob",
    ]
    assert validate_routing([], ["alice"], {}, 0) == []


def test_routing_rejects_unknown_agent():
    with pytest.raises(ValidationFailed) as info:
        validate_routing(["alice", "mallory"], ["alice", "bob"], {}, 0)
    assert info.value.extra == ["mallory"]


def test_routing_per_agent_cap():
    assert validate_routing(["bob"], ["bob"], {"bob": 2}, 2) == ["bob"]
    with pytest.raises(ValidationFailed):
        validate_routing(["bob"], ["bob"], {"bob": 3}, 3)
    with pytest.raises(ValidationFailed):
        validate_routing(["bob", "bob"], ["bob"], {"bob": 2}, 2)
    with pytest.raises(ValidationFailed):
        validate_routing(["bob"] * 4, ["bob"], {}, 0)


def test_routing_total_cap():
    roster = [f"a{i}" for i in range(6)]
    assert validate_routing(["a0", "a1"], roster, {}, 10) == ["a0", "a1"]
    with pytest.raises(ValidationFailed):
        validate_routing(["a0"], roster, {}, 12)
    with pytest.raises(ValidationFailed):
        validate_routing(["a0", "a1", "a2"], roster, {}, 10)
