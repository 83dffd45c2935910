"""Orchestrator turns on in-memory fakes: the manager's decisions (checked, repaired once, then the
fallback), the caps, agents receiving their instruction, the synthesis, and every call in the ledger."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

import pytest

from application.events import EventLog
from application.manager import MANAGER_NAME
from application.ports.llm import LlmAttempt, LlmRequest, LlmResult
from application.steps import TurnRun
from application.use_cases import agents
from application.use_cases.run_turn import program
from domain.decisions import CallAgent, Finish, Orchestration
from domain.errors import ContextBudgetExceeded
from domain.model import Mode, ModelSpec
from domain.orchestration import MAX_AGENT_RUNS, MAX_RUNS_PER_AGENT
from domain.pricing import price_call
from domain.turns import StepKind, StepStatus, TokenUsage, Turn, TurnStatus, TurnStep
from tests.support.seeded import pricing_version
from tests.unit.use_cases.turn_world import ScriptedLlm, TurnWorld


def call(key: str, instruction: str = "Your view, please.") -> str:
    return json.dumps({"action": "call_agent", "agent_key": key, "instruction": instruction, "reason": None})


def finish(reason: str = "Enough said.") -> str:
    return json.dumps({"action": "finish", "agent_key": None, "instruction": None, "reason": reason})


MANAGER_USAGE = TokenUsage(input_tokens=500, cached_input_tokens=0, output_tokens=40)


class ScriptedManager(ScriptedLlm):
    """Agents answer like ScriptedLlm; the manager's decision calls (a request with a response format)
    answer the scripted texts in order (`finish()` once they run out); its synthesis is `Synthesis: …`."""

    def __init__(self, *decisions: str) -> None:
        super().__init__()
        self.decisions = list(decisions)
        self.decision_calls: list[LlmRequest] = []
        self.synthesis_calls: list[LlmRequest] = []

    async def _answer(self, request: LlmRequest) -> LlmResult:
        if request.response_format is None and not request.messages[0].content.startswith("You are the manager"):
            return await super()._answer(request)
        self.calls.append(request)
        if request.response_format is not None:
            self.decision_calls.append(request)
            text = self.decisions.pop(0) if self.decisions else finish()
        else:
            self.synthesis_calls.append(request)
            text = f"Synthesis of {request.messages[-1].content.count(' answered:')} answers"
        attempt = LlmAttempt(call_id=request.first_call_id, status="success", usage=MANAGER_USAGE, latency_ms=3)
        return LlmResult(text=text, attempts=[attempt])


async def orchestrated(tw: TurnWorld, *keys: str, goal: str | None = None) -> tuple[UUID, UUID]:
    user = await tw.new_user_id()
    room = await tw.new_room(user, mode=Mode.ORCHESTRATOR, goal=goal)
    for key in keys:
        await tw.new_agent(user, room.id, key)
    session = await tw.new_session(user, room.id)
    return user, session.id


async def run(tw: TurnWorld, manager: ScriptedManager, *keys: str, message: str = "What should we build?") -> Turn:
    tw.llm = manager
    user, session = await orchestrated(tw, *keys)
    return (await tw.send().execute(user, session, message)).turn


def shape(turn: Turn) -> list[tuple[str, str | None]]:
    return [(s.kind.value, s.agent_key) for s in turn.steps]


def agent_keys(turn: Turn) -> list[str | None]:
    return [s.agent_key for s in turn.steps if s.kind is StepKind.AGENT]


async def test_the_manager_routes_to_a_subset_and_each_agent_gets_its_instruction(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("bob", "Check the numbers."), finish("Bob covered it."))
    turn = await run(tw, manager, "ada", "bob", "cy")
    assert shape(turn) == [("manager", None), ("agent", "bob"), ("manager", None), ("synthesis", None)]
    assert turn.status is TurnStatus.COMPLETED and turn.orchestration == Orchestration(fallback=False)
    first, bob, last, synthesis = turn.steps
    assert first.decision == CallAgent(agent_key="bob", instruction="Check the numbers.")
    assert first.content == "Asked bob: Check the numbers." and first.model == "sim"
    assert first.agent_name == MANAGER_NAME and synthesis.agent_name == MANAGER_NAME
    assert bob.instruction == "Check the numbers." and bob.decision is None
    assert last.decision == Finish(reason="Bob covered it.")
    assert synthesis.content == "Synthesis of 1 answers" and synthesis.decision is None
    # Bob was the only agent called, and read the manager's instruction after the user's message.
    agent_calls = [c for c in manager.calls if c not in manager.decision_calls + manager.synthesis_calls]
    assert len(agent_calls) == 1 and "You are Bob (@bob)" in agent_calls[0].messages[0].content
    assert agent_calls[0].messages[-1].content.endswith("The manager asks you: Check the numbers.")
    # The manager saw the roster, then its own decision and Bob's answer before deciding again.
    second = manager.decision_calls[1].messages
    assert "- ada (Ada): You are ada." in second[0].content
    assert second[-2].content == json.dumps(json.loads(call("bob", "Check the numbers.")), separators=(",", ":"))
    assert second[-1].content.startswith("Bob (bob) answered:\nBob says:")
    assert manager.decision_calls[0].response_format is not None and manager.synthesis_calls[0].response_format is None


async def test_the_same_agent_runs_twice_and_sees_the_answers_in_between(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada"), call("bob"), call("ada", "Answer Bob."))
    turn = await run(tw, manager, "ada", "bob")
    assert agent_keys(turn) == ["ada", "bob", "ada"]
    assert [s.kind for s in turn.steps][-2:] == [StepKind.MANAGER, StepKind.SYNTHESIS]
    again = turn.steps[5]
    assert again.agent_key == "ada" and again.instruction == "Answer Bob."
    agent_calls = [c for c in manager.calls if c not in manager.decision_calls + manager.synthesis_calls]
    seen = agent_calls[2].messages[-1].content
    assert "[Ada]: Ada says:" in seen and "[Bob]: Bob says:" in seen and "Asked" not in seen
    assert manager.synthesis_calls[0].messages[-1].content.count(" answered:") == 3


async def test_a_fourth_run_of_an_agent_is_refused_and_the_manager_told_why(tw: TurnWorld) -> None:
    manager = ScriptedManager(*[call("ada")] * (MAX_RUNS_PER_AGENT + 1), finish("Ada is done."))
    turn = await run(tw, manager, "ada", "bob")
    assert agent_keys(turn) == ["ada"] * MAX_RUNS_PER_AGENT
    repair = manager.decision_calls[MAX_RUNS_PER_AGENT + 1].messages
    assert repair[-1].content.startswith("That decision was refused: ada has already run 3 times")
    last_manager = turn.steps[-2]
    assert last_manager.decision == Finish(reason="Ada is done.") and last_manager.status is StepStatus.COMPLETED
    assert turn.orchestration == Orchestration(fallback=False) and turn.status is TurnStatus.COMPLETED
    # The refused decision was a paid call: both calls of that manager step are in the ledger.
    rows = [e for e in tw.data.ledger if e.step_index == last_manager.index]
    assert [r.purpose for r in rows] == ["manager", "manager"]


async def test_a_manager_that_never_finishes_stops_at_the_run_cap(tw: TurnWorld) -> None:
    keys = ["ada", "bob", "cy", "dee"]
    manager = ScriptedManager(*[call(keys[i % 4]) for i in range(40)])
    turn = await run(tw, manager, *keys)
    assert len(agent_keys(turn)) == MAX_AGENT_RUNS == 12
    assert [s.kind for s in turn.steps].count(StepKind.MANAGER) == MAX_AGENT_RUNS
    assert turn.steps[-1].kind is StepKind.SYNTHESIS and turn.steps[-2].kind is StepKind.AGENT
    assert len(manager.decision_calls) == MAX_AGENT_RUNS and len(tw.data.ledger) == 2 * MAX_AGENT_RUNS + 1


async def test_invalid_json_is_repaired_with_one_call_quoting_the_error(tw: TurnWorld) -> None:
    manager = ScriptedManager("Let us ask Ada, she knows.", call("ada"), finish())
    turn = await run(tw, manager, "ada", "bob")
    assert shape(turn) == [("manager", None), ("agent", "ada"), ("manager", None), ("synthesis", None)]
    assert turn.steps[0].status is StepStatus.COMPLETED and turn.orchestration == Orchestration(fallback=False)
    repair = manager.decision_calls[1].messages
    assert repair[-2].role == "assistant" and repair[-2].content == "Let us ask Ada, she knows."
    assert repair[-1].content.startswith("That decision was refused: not a valid decision object: JSON is malformed")
    assert turn.steps[0].usage.credits == 2 * manager_credits()  # both calls paid for by the step


async def test_invalid_twice_falls_back_to_synthesising_what_exists(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada"), '{"action": "call_agent"}', '{"action": "dance"}')
    turn = await run(tw, manager, "ada", "bob")
    assert shape(turn) == [("manager", None), ("agent", "ada"), ("manager", None), ("synthesis", None)]
    fallen = turn.steps[2]
    assert fallen.status is StepStatus.FAILED and fallen.error is not None and fallen.error.code == "invalid_decision"
    assert isinstance(fallen.decision, Finish) and fallen.content == fallen.decision.reason
    assert turn.orchestration is not None and turn.orchestration.fallback
    assert turn.orchestration.reason == fallen.error.detail and "action" in fallen.error.detail
    assert turn.steps[3].status is StepStatus.COMPLETED and turn.steps[3].content == "Synthesis of 1 answers"
    assert turn.status is TurnStatus.PARTIAL
    assert len(manager.decision_calls) == 3  # the first decision, then one call and one repair: no more


async def test_an_unknown_agent_key_is_refused_naming_the_roster(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("zed"), call("bob"), finish())
    turn = await run(tw, manager, "ada", "bob")
    assert agent_keys(turn) == ["bob"]
    said = manager.decision_calls[1].messages[-1].content
    assert said == "That decision was refused: There is no agent 'zed' in this room; choose one of: ada, bob. " + (
        "Answer again with one valid decision."
    )


async def test_a_failing_agent_is_a_failed_step_the_manager_sees(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada"), call("bob"), finish())
    tw.llm = manager
    manager.failing = {"Ada"}
    user, session = await orchestrated(tw, "ada", "bob")
    turn = (await tw.send().execute(user, session, "go")).turn
    assert [(s.agent_key, s.status) for s in turn.steps if s.kind is StepKind.AGENT] == [
        ("ada", StepStatus.FAILED),
        ("bob", StepStatus.COMPLETED),
    ]
    assert manager.decision_calls[1].messages[-1].content == "Ada (ada) failed to answer (provider_error)."
    assert turn.status is TurnStatus.PARTIAL and turn.orchestration == Orchestration(fallback=False)
    assert "Ada (ada) failed to answer" in manager.synthesis_calls[0].messages[-1].content


def manager_credits() -> Decimal:
    return price_call(pricing_version(), "sim", 500, 0, 40).credits_burned


async def test_manager_and_synthesis_calls_are_ledger_rows_with_exact_credits(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada"), finish())
    turn = await run(tw, manager, "ada", "bob")
    rows = sorted(tw.data.ledger, key=lambda e: e.step_index or 0)
    assert [(r.step_index, r.purpose, r.agent_key) for r in rows] == [
        (0, "manager", None),
        (1, "agent", "ada"),
        (2, "manager", None),
        (3, "synthesis", None),
    ]
    agent = price_call(pricing_version(), "sim", 800, 200, 300).credits_burned
    assert manager_credits() == Decimal("0.0215")  # (500×0.35 + 40) / 10000 at multiplier 1
    assert [r.credits_burned for r in rows] == [manager_credits(), agent, manager_credits(), manager_credits()]
    assert turn.usage.credits == 3 * manager_credits() + agent and turn.usage.llm_calls == 4
    assert [s.usage.credits for s in turn.steps] == [r.credits_burned for r in rows]


async def test_resume_carries_on_from_committed_decisions_without_calling_them_again(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada", "First."), call("bob", "Second."), finish())
    tw.llm = manager
    user, session = await orchestrated(tw, "ada", "bob")
    context = (await tw.send().start(user, session, "go")).context  # allocated, then the process died
    steps: list[TurnStep] = []
    for _ in range(2):  # the manager's first decision and Ada's answer committed before the crash
        planned = program(context, steps)
        assert planned is not None
        run_ = TurnRun(context=context, events=EventLog(context, tw.events, tw.clock, 1))
        steps.append(await tw.executor().execute(run_, planned, list(steps)))
    calls_before = len(manager.calls)
    tw.clock.advance(120)
    claimed = await tw.recovery().claim()
    await tw.resume(claimed[0])
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert shape(turn) == [
        ("manager", None),
        ("agent", "ada"),
        ("manager", None),
        ("agent", "bob"),
        ("manager", None),
        ("synthesis", None),
    ]
    assert turn.status is TurnStatus.COMPLETED and turn.steps[3].instruction == "Second."
    assert len(manager.calls) - calls_before == 4  # bob's decision, bob, finish, synthesis: nothing twice
    assert len(tw.data.ledger) == 6


@pytest.mark.parametrize("room_manager", [None, "sim-slow"])
async def test_the_manager_is_the_rooms_alias_else_the_configured_default(
    tw: TurnWorld, room_manager: str | None
) -> None:
    tw.llm = ScriptedManager(call("ada"), finish())
    user = await tw.new_user_id()
    room = await tw.new_room(user, mode=Mode.ORCHESTRATOR, manager_model=room_manager)
    await tw.new_agent(user, room.id, "ada")
    session = await tw.new_session(user, room.id)
    turn = (await tw.send().execute(user, session.id, "go")).turn
    expected = room_manager or "sim"
    assert {s.model for s in turn.steps if s.kind is not StepKind.AGENT} == {expected}
    assert {e.model_alias for e in tw.data.ledger if e.purpose != "agent"} == {expected}


async def test_a_roster_too_big_for_the_managers_model_is_refused_up_front(tw: TurnWorld) -> None:
    tw.llm = ScriptedManager()
    tw.catalog.replace(ModelSpec(alias="sim-slow", provider="simulated", provider_model="x", context_window=4096))
    user = await tw.new_user_id()
    room = await tw.new_room(user, mode=Mode.ORCHESTRATOR, manager_model="sim-slow")
    add = agents.AddAgent(tw.rooms, tw.agents, tw.catalog, tw.clock, tw.ids)
    for key in ("ada", "bob"):  # each role prompt fits its own model and the manager's; both do not
        await add.execute(user, room.id, agent_key=key, name=key, model="sim", role_prompt="x" * 4000, position=None)
    session = await tw.new_session(user, room.id)
    with pytest.raises(ContextBudgetExceeded) as refused:
        await tw.send().execute(user, session.id, "hi")
    assert refused.value.extra["agent_key"] == "manager"
    assert tw.data.turns == {} and tw.llm.calls == []
