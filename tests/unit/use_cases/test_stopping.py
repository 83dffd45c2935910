"""Stopping turns and the caps per turn, on in-memory fakes: what runs, what is billed, what is told."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from uuid import UUID

import pytest

from adapters.polling_stops import PollingStopWatch
from application.ports.llm import LlmAttempt, LlmRequest, LlmResult
from application.use_cases.stop_turn import StopTurn
from domain.errors import NotFound, TurnNotRunning
from domain.model import Mode
from domain.stopping import StopMode, worst_case_credits
from domain.turns import StepKind, StepStatus, TokenUsage, Turn, TurnStatus
from tests.support.seeded import pricing_version
from tests.unit.use_cases.test_orchestrator import ScriptedManager, call
from tests.unit.use_cases.turn_world import ScriptedLlm, TurnWorld

AGENT_CREDITS = Decimal("0.0600")  # ScriptedLlm: 800 fresh x 0.35 + 200 cached x 0.10 + 300 output, at 1.00


async def capped_session(tw: TurnWorld, *keys: str, mode: Mode = Mode.ROUNDTABLE, **caps: object) -> tuple[UUID, UUID]:
    user = await tw.new_user_id()
    room = await tw.new_room(user, mode=mode, caps=caps)
    for key in keys:
        await tw.new_agent(user, room.id, key)
    return user, (await tw.new_session(user, room.id)).id


def steps_of(turn: Turn) -> list[tuple[str, str | None, str]]:
    return [(s.kind.value, s.agent_key, s.status.value) for s in turn.steps]


async def test_a_call_whose_worst_case_would_pass_the_credit_cap_is_not_started(tw: TurnWorld) -> None:
    user, session = await capped_session(tw, "ada", "bob", "cy", max_credits_per_turn="0.25")
    turn = (await tw.send().execute(user, session, "Go.")).turn

    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "credit_cap")
    assert steps_of(turn) == [("agent", "ada", "completed")]
    # bob's call was not sent: 0.0600 spent + its worst case (prompt + 2048 output tokens) > 0.25.
    bob_prompt = sum(len(m.content) for m in tw.llm.calls[0].messages)  # about ada's: same shape
    assert AGENT_CREDITS + worst_case_credits(pricing_version(), "sim", bob_prompt // 4, 2048) > Decimal("0.25")
    assert [c.messages[0].content.split(" ")[2] for c in tw.llm.calls] == ["Ada"]
    assert [e.credits_burned for e in tw.db.ledger] == [AGENT_CREDITS]
    assert turn.usage.credits == AGENT_CREDITS <= Decimal("0.25")


async def test_the_call_cap_ends_an_orchestrated_turn_with_its_synthesis(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada"), call("bob"))
    tw.llm = manager
    user, session = await capped_session(tw, "ada", "bob", mode=Mode.ORCHESTRATOR, max_agent_calls_per_turn=1)
    turn = (await tw.send().execute(user, session, "What should we build?")).turn

    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "call_cap")
    assert steps_of(turn) == [
        ("manager", None, "completed"),
        ("agent", "ada", "completed"),
        ("synthesis", None, "completed"),
    ]
    assert len(manager.decision_calls) == 1  # no second decision: the cap leads straight to the synthesis
    assert "What is left of this turn's budget: 1 agent calls" in manager.decision_calls[0].messages[0].content
    assert [e.purpose for e in tw.db.ledger] == ["manager", "agent", "synthesis"]


async def test_the_credit_cap_keeps_an_orchestrated_synthesis_short_enough_to_fit(tw: TurnWorld) -> None:
    manager = ScriptedManager(call("ada"), call("ada"))
    tw.llm = manager
    # Room for the decision and ada's answer at full length, then less than a whole synthesis.
    user, session = await capped_session(tw, "ada", mode=Mode.ORCHESTRATOR, max_credits_per_turn="0.3")
    turn = (await tw.send().execute(user, session, "What should we build?")).turn

    assert turn.stop_reason == "credit_cap"
    assert turn.steps[-1].kind is StepKind.SYNTHESIS and turn.steps[-1].status is StepStatus.COMPLETED
    synthesis = manager.synthesis_calls[0]
    assert synthesis.max_output_tokens < 2048  # shortened so that its worst case stays within the cap
    assert "keep the answer short" in synthesis.messages[0].content
    assert sum(e.credits_burned for e in tw.db.ledger) <= Decimal("0.3")
    assert steps_of(turn)[:-1] == [
        ("manager", None, "completed"),
        ("agent", "ada", "completed"),
        ("manager", None, "completed"),
    ]  # ada twice would not fit


class ClockedLlm(ScriptedLlm):
    """Each answer takes `seconds` of the world's clock."""

    def __init__(self, tw: TurnWorld, seconds: float) -> None:
        super().__init__()
        self.tw, self.seconds = tw, seconds

    async def _answer(self, request: LlmRequest) -> LlmResult:
        self.tw.clock.advance(self.seconds)
        return await super()._answer(request)


async def test_the_time_cap_lets_the_step_in_flight_finish_and_starts_no_other(tw: TurnWorld) -> None:
    tw.llm = ClockedLlm(tw, 40)
    user, session = await capped_session(tw, "ada", "bob", "cy", max_turn_seconds=60)
    turn = (await tw.send().execute(user, session, "Go.")).turn
    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "time_cap")
    assert steps_of(turn) == [("agent", "ada", "completed"), ("agent", "bob", "completed")]  # 80 s > 60 s


class GatedLlm(ScriptedLlm):
    """Streams one piece, then waits for `release` — or for the call to be cancelled, like a provider
    whose connection is closed: then it ends `cancelled` with the piece it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.waiting = asyncio.Event()

    async def stream(self, request: LlmRequest, on_delta=None, observer=None, cancel=None) -> LlmResult:
        if cancel is not None and cancel.cancelled:
            return LlmResult(text="", attempts=[], stopped=True)
        if observer is not None:
            await observer.attempt_started(request.first_call_id)
        if on_delta is not None:
            await on_delta("Half an ")
        self.waiting.set()
        waits = [asyncio.ensure_future(self.release.wait())]
        if cancel is not None:
            waits.append(asyncio.ensure_future(cancel.wait()))
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if cancel is not None and cancel.cancelled:
            usage = TokenUsage(input_tokens=1000, output_tokens=3)
            attempt = LlmAttempt(
                call_id=request.first_call_id, status="cancelled", usage=usage, latency_ms=5, usage_estimated=True
            )
            if observer is not None:
                await observer.attempt_finished(attempt)
            return LlmResult(text="Half an ", attempts=[attempt], stopped=True)
        self.waiting.clear()
        self.release.clear()
        return await super().stream(request, None, observer)


def stopper(tw: TurnWorld) -> StopTurn:
    return StopTurn(tw.stop_store, tw.watch, tw.turns, tw.clock)


async def started_turn(tw: TurnWorld, *keys: str) -> tuple[UUID, UUID, UUID, asyncio.Task[Turn], GatedLlm]:
    llm = GatedLlm()
    tw.llm = llm
    user, session = await capped_session(tw, *keys)
    run_turn = tw.run_turn()
    send = tw.send(run_turn)
    started = await send.start(user, session, "Go.")
    task = asyncio.ensure_future(send.run(started.context))
    await asyncio.wait_for(llm.waiting.wait(), 5)
    return user, session, started.context.turn_id, task, llm


async def test_stop_now_keeps_the_partial_text_bills_the_cut_call_once_and_runs_nothing_more(tw: TurnWorld) -> None:
    user, session, turn_id, task, _ = await started_turn(tw, "ada", "bob")
    standing = await stopper(tw).execute(user, session, turn_id, StopMode.NOW)
    assert standing.status is TurnStatus.RUNNING
    turn = await asyncio.wait_for(task, 5)

    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "user")
    assert [(s.agent_key, s.status, s.content) for s in turn.steps] == [("ada", StepStatus.STOPPED, "Half an ")]
    [row] = tw.db.ledger
    assert (row.status, row.usage_estimated, row.step_index) == ("cancelled", True, 0)
    assert row.credits_burned > 0 and turn.usage.credits == row.credits_burned  # the user pays what was used
    assert tw.db.intents == {}  # committed with the stopped step: nothing is left for a recovery to bill
    assert len(tw.llm.calls) == 0  # bob never called
    events = [e.type for e in tw.db.events[turn_id]]
    assert events[-2:] == ["step_completed", "turn_completed"]
    with pytest.raises(TurnNotRunning):
        await stopper(tw).execute(user, session, turn_id, StopMode.NOW)
    assert len(tw.db.ledger) == 1


async def test_stop_after_step_lets_the_call_finish(tw: TurnWorld) -> None:
    user, session, turn_id, task, llm = await started_turn(tw, "ada", "bob", "cy", "dee")
    await stopper(tw).execute(user, session, turn_id, StopMode.AFTER_STEP)
    await stopper(tw).execute(user, session, turn_id, StopMode.AFTER_STEP)  # harmless
    await asyncio.sleep(0.05)
    assert not task.done()  # ada is still answering
    llm.release.set()
    turn = await asyncio.wait_for(task, 5)
    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "user")
    assert [(s.agent_key, s.status) for s in turn.steps] == [("ada", StepStatus.COMPLETED)]
    assert [e.status for e in tw.db.ledger] == ["success"]


async def test_a_resumed_turn_with_a_stop_stored_runs_nothing_and_ends_stopped(tw: TurnWorld) -> None:
    user, session = await capped_session(tw, "ada", "bob")
    started = await tw.send().start(user, session, "Go.")
    context = started.context
    await tw.run_step(context, 0)  # then the process died
    await stopper(tw).execute(user, session, context.turn_id, StopMode.AFTER_STEP)  # received by another one
    await tw.resume(context)
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "user")
    assert [s.agent_key for s in turn.steps] == ["ada"] and len(tw.llm.calls) == 1


async def test_stopping_no_such_turn_is_not_found(tw: TurnWorld) -> None:
    user, session = await capped_session(tw, "ada")
    with pytest.raises(NotFound):
        await stopper(tw).execute(user, session, UUID(int=999), StopMode.NOW)


async def test_a_stop_stored_after_the_watch_last_looked_still_ends_the_turn_stopped(tw: TurnWorld) -> None:
    tw.watch = PollingStopWatch(tw.stop_store, interval_s=3600)  # it never looks in time
    user, session, turn_id, task, llm = await started_turn(tw, "ada")
    # Stored by "another process" while the turn's last step runs: the final mark finds it.
    assert await tw.stop_store.request_stop(user, session, turn_id, StopMode.AFTER_STEP, tw.clock.now())
    llm.release.set()
    turn = await asyncio.wait_for(task, 5)

    assert (turn.status, turn.stop_reason) == (TurnStatus.STOPPED, "user")
    stored = await tw.turns.turn_of(user, turn_id)
    assert (stored.status, stored.stop_reason) == (TurnStatus.STOPPED, "user")
    events = tw.db.events[turn_id]
    assert [e.type for e in events].count("turn_completed") == 1
    assert events[-1].data["turn"]["status"] == "stopped"
    assert [e.data["seq"] for e in events] == list(range(1, len(events) + 1))
