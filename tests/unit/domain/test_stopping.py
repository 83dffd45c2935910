"""The stopping rules: which step may still run once a stop is asked for or a cap is reached, and what
a call may cost at worst."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.decisions import CallAgent
from domain.errors import ValidationFailed
from domain.model import Mode
from domain.planning import plan_turn
from domain.stopping import (
    MIN_SYNTHESIS_OUTPUT_TOKENS,
    Stop,
    StopMode,
    StopReason,
    TurnCaps,
    credit_cap,
    next_step_stopping,
    output_within_cap,
    remaining_budget,
    room_caps,
    stronger,
    worst_case_credits,
)
from domain.turns import RosterEntry, StepKind, StepStatus, StepUsage, TurnStep
from tests.support.seeded import pricing_version

ROSTER = [
    RosterEntry(agent_key=k, name=k.title(), model="sim", role_prompt="", position=i) for i, k in enumerate("abc")
]
AFTER_STEP = Stop(mode=StopMode.AFTER_STEP, reason=StopReason.USER)
NOW = Stop(mode=StopMode.NOW, reason=StopReason.USER)


def done(index: int, kind: StepKind, key: str | None = None, credits: str = "0.0100", **extra: object) -> TurnStep:
    return TurnStep(
        index=index,
        kind=kind,
        agent_key=key,
        agent_name=key,
        model="sim",
        status=StepStatus.COMPLETED,
        content="x",
        error=None,
        usage=StepUsage(credits=Decimal(credits)),
        **extra,  # type: ignore[arg-type]
    )


def test_a_later_stop_never_weakens_an_earlier_one() -> None:
    assert stronger(None, StopMode.AFTER_STEP, StopReason.CALL_CAP) == Stop(
        mode=StopMode.AFTER_STEP, reason=StopReason.CALL_CAP
    )
    cap = Stop(mode=StopMode.AFTER_STEP, reason=StopReason.CREDIT_CAP)
    assert stronger(cap, StopMode.NOW, StopReason.USER) == Stop(mode=StopMode.NOW, reason=StopReason.CREDIT_CAP)
    assert stronger(NOW, StopMode.AFTER_STEP, StopReason.TIME_CAP) == NOW


def test_a_stopped_roundtable_runs_nothing_more() -> None:
    plan = plan_turn(Mode.ROUNDTABLE, ROSTER, "go")
    steps = [done(0, StepKind.AGENT, "a")]
    assert next_step_stopping(Mode.ROUNDTABLE, plan, ROSTER, steps, None).step == plan[1]
    for stop in (AFTER_STEP, NOW):
        upcoming = next_step_stopping(Mode.ROUNDTABLE, plan, ROSTER, steps, stop)
        assert (upcoming.step, upcoming.stop) == (None, stop)


def test_a_stopped_orchestrated_turn_still_synthesises_unless_stopped_now() -> None:
    steps = [
        done(0, StepKind.MANAGER, decision=CallAgent(agent_key="a", instruction="go")),
        done(1, StepKind.AGENT, "a"),
    ]
    upcoming = next_step_stopping(Mode.ORCHESTRATOR, [], ROSTER, steps, AFTER_STEP)
    assert (upcoming.step.index, upcoming.step.kind) == (2, StepKind.SYNTHESIS)
    assert next_step_stopping(Mode.ORCHESTRATOR, [], ROSTER, steps, NOW).step is None
    assert next_step_stopping(Mode.ORCHESTRATOR, [], ROSTER, steps, AFTER_STEP, synthesis_refused=True).step is None
    with_synthesis = [*steps, done(2, StepKind.SYNTHESIS)]
    assert next_step_stopping(Mode.ORCHESTRATOR, [], ROSTER, with_synthesis, AFTER_STEP).step is None


def test_a_cap_stops_the_turn_only_when_another_agent_or_manager_step_would_start() -> None:
    plan = plan_turn(Mode.ROUNDTABLE, ROSTER, "go")
    one = [done(0, StepKind.AGENT, "a")]
    calls = next_step_stopping(Mode.ROUNDTABLE, plan, ROSTER, one, None, caps=TurnCaps(max_agent_calls=1))
    assert (calls.step, calls.stop) == (None, Stop(mode=StopMode.AFTER_STEP, reason=StopReason.CALL_CAP))
    time = next_step_stopping(Mode.ROUNDTABLE, plan, ROSTER, one, None, caps=TurnCaps(max_seconds=5), elapsed_s=5)
    assert time.stop == Stop(mode=StopMode.AFTER_STEP, reason=StopReason.TIME_CAP)
    spent = next_step_stopping(Mode.ROUNDTABLE, plan, ROSTER, one, None, caps=TurnCaps(max_credits=Decimal("0.01")))
    assert spent.stop == Stop(mode=StopMode.AFTER_STEP, reason=StopReason.CREDIT_CAP)
    # The whole plan ran: nothing was stopped, whatever the caps say.
    everyone = [done(i, StepKind.AGENT, k) for i, k in enumerate("abc")]
    finished = next_step_stopping(Mode.ROUNDTABLE, plan, ROSTER, everyone, None, caps=TurnCaps(max_agent_calls=3))
    assert (finished.step, finished.stop) == (None, None)
    # In an orchestrated turn the cap leads to the synthesis, without another decision.
    orchestrated = [
        done(0, StepKind.MANAGER, decision=CallAgent(agent_key="a", instruction="go")),
        done(1, StepKind.AGENT, "a"),
    ]
    capped = next_step_stopping(Mode.ORCHESTRATOR, [], ROSTER, orchestrated, None, caps=TurnCaps(max_agent_calls=1))
    assert capped.step.kind is StepKind.SYNTHESIS and capped.stop.reason is StopReason.CALL_CAP


def test_the_worst_case_prices_the_prompt_and_the_whole_output_limit() -> None:
    pricing = pricing_version()
    # sim bills at 1.00: (1000 x 0.35 + 2048) / 10000
    assert worst_case_credits(pricing, "sim", 1000, 2048) == Decimal("0.2398")
    caps = TurnCaps(max_credits=Decimal("0.1000"))
    fitting = output_within_cap(caps, Decimal("0.0500"), pricing, "sim", 1000, 2048)
    assert fitting is not None and MIN_SYNTHESIS_OUTPUT_TOKENS <= fitting < 2048
    assert worst_case_credits(pricing, "sim", 1000, fitting) <= Decimal("0.0500")
    assert worst_case_credits(pricing, "sim", 1000, fitting + 1) > Decimal("0.0500")
    assert output_within_cap(caps, Decimal("0.0900"), pricing, "sim", 1000, 2048) is None
    assert output_within_cap(TurnCaps(), Decimal("99"), pricing, "sim", 1000, 2048) == 2048


def test_the_budget_left_reads_in_words() -> None:
    caps = TurnCaps(max_credits=Decimal("1.0000"), max_agent_calls=4, max_seconds=60)
    steps = [done(0, StepKind.AGENT, "a", credits="0.2500")]
    assert remaining_budget(caps, steps, 12.5) == "0.7500 credits, 3 agent calls, 47 seconds"
    assert remaining_budget(TurnCaps(), steps, 0) is None


@pytest.mark.parametrize("text", ["0", "-1", "0.00001", "abc", "NaN", "Infinity", "1000001"])
def test_a_bad_credit_cap_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed):
        credit_cap(text)


def test_caps_are_checked_and_typed() -> None:
    assert room_caps({"max_credits_per_turn": "0.5", "name": "x"}) == {
        "max_credits_per_turn": Decimal("0.5000"),
        "name": "x",
    }
    assert room_caps({"max_credits_per_turn": None, "max_turn_seconds": None}) == {
        "max_credits_per_turn": None,
        "max_turn_seconds": None,
    }
    for field, value in (("max_agent_calls_per_turn", 0), ("max_turn_seconds", 86_401), ("max_turn_seconds", True)):
        with pytest.raises(ValidationFailed):
            room_caps({field: value})
