import pytest

from domain.errors import NoAgents, NoValidTag
from domain.model import Mode
from domain.planning import plan_turn
from domain.turns import RosterEntry, StepKind


def entry(key: str, position: int) -> RosterEntry:
    return RosterEntry(agent_key=key, name=key.title(), model="sim", role_prompt=f"You are {key}.", position=position)


ROSTER = [entry("carol", 2), entry("alice", 0), entry("bob", 1)]


def keys(steps):
    return [step.agent.agent_key for step in steps]


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
