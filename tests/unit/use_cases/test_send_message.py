"""SendMessage / ExecuteStep / RecoverTurns on in-memory fakes: what a user notices of a turn."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import msgspec
import pytest

from adapters.memory.stores import MemoryDatabase
from adapters.memory.turns import (
    MemoryStepRecorder,
    SequentialTurnRunner,
)
from application.errors import StoreUnavailable
from application.patience import Patience
from application.ports.llm import LlmAttempt, LlmRequest, LlmResult
from application.use_cases import rooms
from application.use_cases.recover_turns import RecoverTurns
from application.use_cases.supervise_turns import SuperviseTurns
from domain.errors import ContextBudgetExceeded, IdempotencyConflict, NoAgents, NoValidTag, TurnInProgress
from domain.model import Mode, ModelSpec
from domain.pricing import price_call
from domain.turns import StepError, StepStatus, TokenUsage, TurnStatus
from tests.unit.use_cases.turn_world import ScriptedLlm, TurnWorld


async def test_manual_turn_answers_tagged_agents_in_order_of_first_mention(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", "cy")
    sent = await tw.send().execute(user, session, "@cy first, then @ada, and @cy again; mail a@bob.com")
    assert [s.agent_key for s in sent.turn.steps] == ["cy", "ada"]
    assert sent.turn.status is TurnStatus.COMPLETED and sent.turn.turn_index == 0
    # The second agent saw the first one's answer; each saw only its own role prompt.
    second = tw.llm.calls[1].messages
    assert "[Cy]: Cy says: 1" in second[-1].content
    assert "You are cy." not in second[0].content and "You are ada." in second[0].content


async def test_no_valid_tag_and_no_agents_write_nothing(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    with pytest.raises(NoValidTag):
        await tw.send().execute(user, session, "hello @nobody and a@ada.com")
    empty_user, _, empty_session = await tw.room_with()
    with pytest.raises(NoAgents):
        await tw.send().execute(empty_user, empty_session, "@ada hi")
    assert tw.data.turns == {} and tw.data.ledger == []
    assert tw.db.sessions[session].turn_count == 0


async def test_roundtable_partial_failure_keeps_the_others_and_bills_each_attempt(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", "cy", mode=Mode.ROUNDTABLE)
    tw.llm.failing = {"Bob"}
    turn = (await tw.send().execute(user, session, "what now?")).turn
    assert turn.status is TurnStatus.PARTIAL
    assert [(s.agent_key, s.status) for s in turn.steps] == [
        ("ada", StepStatus.COMPLETED),
        ("bob", StepStatus.FAILED),
        ("cy", StepStatus.COMPLETED),
    ]
    assert turn.steps[1].error == StepError(code="provider_error", detail="boom")
    assert "[Bob] (failed to answer: provider_error)" in tw.llm.calls[2].messages[-1].content
    assert len(tw.data.ledger) == 3 and turn.usage.llm_calls == 3
    expected = price_call(await tw.pricing.active_version(), "sim", 800, 200, 300).credits_burned
    assert turn.steps[0].usage.credits == expected == Decimal("0.0600")  # (800×0.35 + 200×0.10 + 300) / 10000
    assert turn.usage.credits == 2 * expected


async def test_all_steps_failing_is_a_failed_turn_not_an_error(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", mode=Mode.ROUNDTABLE)
    tw.llm.failing = {"Ada"}
    turn = (await tw.send().execute(user, session, "hi")).turn
    assert turn.status is TurnStatus.FAILED and turn.completed_at is not None


async def test_pending_mode_applies_at_next_turn_start(tw: TurnWorld) -> None:
    user, room, session = await tw.room_with("ada", "bob")
    await rooms.ChangeMode(tw.rooms, tw.clock).execute(user, room, Mode.ROUNDTABLE)
    assert (await tw.rooms.room_of(user, room)).current_mode is Mode.MANUAL  # not applied yet
    turn = (await tw.send().execute(user, session, "no tags needed now")).turn
    assert turn.mode is Mode.ROUNDTABLE and len(turn.steps) == 2
    stored = await tw.rooms.room_of(user, room)
    assert stored.current_mode is Mode.ROUNDTABLE and stored.pending_mode is None


async def test_turn_indexes_are_gapless_and_a_running_turn_blocks_the_next(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    for expected in range(3):
        assert (await tw.send().execute(user, session, "@ada go")).turn.turn_index == expected
    row = next(iter(tw.data.turns.values()))
    row.status = TurnStatus.RUNNING
    with pytest.raises(TurnInProgress):
        await tw.send().execute(user, session, "@ada again")
    assert tw.db.sessions[session].turn_count == 3


async def test_idempotency_key_replays_and_conflicts(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    first = await tw.send().execute(user, session, "@ada hi", "key-1")
    again = await tw.send().execute(user, session, "@ada hi", "key-1")
    assert again.replayed and not first.replayed and again.turn.id == first.turn.id
    assert len(tw.llm.calls) == 1
    with pytest.raises(IdempotencyConflict):
        await tw.send().execute(user, session, "@ada something else", "key-1")
    # A request refused with a 4xx does not consume its key.
    with pytest.raises(NoValidTag):
        await tw.send().execute(user, session, "no tag", "key-2")
    assert (await tw.send().execute(user, session, "@ada fine", "key-2")).turn.turn_index == 1


async def test_message_too_big_for_the_model_is_refused_up_front(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    tw.catalog.replace(ModelSpec(alias="sim", provider="simulated", provider_model="x", context_window=4096))
    with pytest.raises(ContextBudgetExceeded):
        await tw.send().execute(user, session, "@ada " + "x" * 20_000)
    assert tw.data.turns == {}


async def test_resume_does_not_call_committed_steps_again_and_cancels_cut_calls(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", "cy", mode=Mode.ROUNDTABLE)
    send = tw.send()
    # Simulate a crash: the turn began, step 0 committed, step 1's call was in flight.
    context = (await send.start(user, session, "go")).context  # allocated, not run: as if the process died
    await tw.run_step(context, 0)
    from application.ports.turns import CallIntent

    await tw.recorder.record_intent(
        CallIntent(
            call_id=uuid4(),
            turn_id=context.turn_id,
            step_index=1,
            agent_key="bob",
            provider="simulated",
            model_alias="sim",
            provider_model="pantheon-sim",
            estimated_input_tokens=400,
            started_at=tw.clock.now(),
        )
    )
    tw.llm.calls.clear()
    tw.clock.advance(120)
    recover = tw.recovery()
    claimed = await recover.claim()
    assert [c.turn_id for c in claimed] == [context.turn_id]
    await tw.resume(claimed[0])
    assert [c.messages[0].content.split(" ")[2] for c in tw.llm.calls] == ["Bob", "Cy"]  # Ada not called again
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert turn.status is TurnStatus.COMPLETED and len(turn.steps) == 3
    cancelled = [e for e in tw.data.ledger if e.status == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0].credits_burned == Decimal("0.0000")
    assert cancelled[0].input_tokens_fresh == 400
    assert tw.data.intents == {}


async def test_turn_too_old_is_marked_failed_not_resumed(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", mode=Mode.ROUNDTABLE)
    send = tw.send()
    context = (await send.start(user, session, "go")).context  # allocated, not run: as if the process died
    tw.clock.advance(7200)
    recover = tw.recovery()
    claimed = await recover.claim()
    assert claimed == []  # ended, not resumed
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert turn.status is TurnStatus.FAILED and tw.llm.calls == []
    assert await recover.claim() == []  # nothing left to adopt
    [event] = tw.data.events[context.turn_id]
    assert (event.type, event.data["error"]["code"]) == ("turn_failed", "turn_abandoned")


class ProcessDied(BaseException):
    """Stands for the process being killed: nothing after it runs."""


class DiesDuringRetryLlm:
    """First attempt: 429 (it reached the provider), then the process dies while the retry is in flight."""

    async def stream(self, request: LlmRequest, on_delta=None, observer=None, cancel=None) -> LlmResult:
        await observer.attempt_started(request.first_call_id)
        await observer.attempt_finished(
            LlmAttempt(
                call_id=request.first_call_id,
                status="rate_limited",
                usage=TokenUsage(),
                latency_ms=3,
                error=StepError(code="provider_rate_limited", detail="slow down"),
            )
        )
        await observer.attempt_started(str(uuid4()))
        raise ProcessDied


async def test_a_crash_between_retries_loses_no_attempt(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    tw.llm = DiesDuringRetryLlm()
    with pytest.raises(ProcessDied):
        await tw.send().execute(user, session, "@ada hi")
    assert tw.data.ledger == [] and len(tw.data.intents) == 2
    tw.llm = ScriptedLlm()
    tw.clock.advance(60)
    recover = tw.recovery()
    [context] = await recover.claim()
    assert sorted(e.status for e in tw.data.ledger) == ["cancelled", "rate_limited"]
    await tw.resume(context)
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert turn.status is TurnStatus.COMPLETED
    assert sorted(e.status for e in tw.data.ledger) == ["cancelled", "rate_limited", "success"]
    assert turn.usage.llm_calls == 3 and tw.data.intents == {}


async def test_an_alias_removed_from_the_configuration_fails_only_its_step(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", mode=Mode.ROUNDTABLE)
    bob = next(a for a in tw.db.agents.values() if a.agent_key == "bob")
    tw.db.agents[bob.id] = msgspec.structs.replace(bob, model="gone-model")
    turn = (await tw.send().execute(user, session, "hello")).turn
    assert turn.status is TurnStatus.PARTIAL
    assert (turn.steps[1].status, turn.steps[1].error.code) == (StepStatus.FAILED, "unknown_model")
    assert [e.agent_key for e in tw.data.ledger] == ["ada"]  # nothing was called for bob
    kinds = [(e.type, e.data.get("index")) for e in tw.data.events[turn.id] if e.type != "step_delta"]
    assert kinds == [
        ("turn_started", None),
        ("step_started", 0),
        ("step_completed", 0),
        ("step_started", 1),
        ("step_completed", 1),
        ("turn_completed", None),
    ]


async def test_repeating_a_key_while_its_turn_runs_is_turn_in_progress(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    started = await tw.send().start(user, session, "@ada hi", "key-running")
    assert started.context is not None  # allocated, still running
    with pytest.raises(TurnInProgress):
        await tw.send().execute(user, session, "@ada hi", "key-running")
    assert tw.llm.calls == []


class FlakyRecorder(MemoryStepRecorder):
    """The database is down for the next `down` step commits (the commit may even have landed)."""

    def __init__(self, data: MemoryDatabase, down: int, landed: bool = False) -> None:
        super().__init__(data)
        self.down, self.landed = down, landed

    async def commit_step(self, *args, **kwargs) -> bool:
        if self.down:
            self.down -= 1
            if self.landed:
                await super().commit_step(*args, **kwargs)
            raise StoreUnavailable("down", maybe_written=True)
        return await super().commit_step(*args, **kwargs)


async def no_sleep(_: float) -> None:
    return None


@pytest.mark.parametrize("landed", [False, True], ids=["lost", "landed before the error"])
async def test_a_database_outage_mid_turn_is_a_pause_not_a_failure(tw: TurnWorld, landed: bool) -> None:
    user, _, session = await tw.room_with("ada", "bob", mode=Mode.ROUNDTABLE)
    tw.recorder = FlakyRecorder(tw.data, down=3, landed=landed)
    tw.patience = Patience(60, sleep=no_sleep)
    send = tw.send()
    context = (await send.start(user, session, "go")).context
    pauses: list[int] = []
    turn = await send.run(context, on_pause=lambda: pauses.append(1))
    assert turn.status is TurnStatus.COMPLETED and [s.agent_key for s in turn.steps] == ["ada", "bob"]
    assert len(tw.llm.calls) == 2  # the paid answer waited for the database; it was not asked again
    assert [e.status for e in tw.data.ledger] == ["success", "success"] and tw.data.intents == {}
    assert pauses == [1]
    terminal = [e.type for e in tw.data.events[turn.id] if e.type.startswith("turn_")]
    assert terminal == ["turn_started", "turn_completed"]


async def test_an_outage_longer_than_the_patience_leaves_the_turn_running_for_recovery(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", mode=Mode.ROUNDTABLE)
    tw.recorder = FlakyRecorder(tw.data, down=1000)
    tw.patience = Patience(0, sleep=no_sleep)
    run = tw.run_turn()
    send = tw.send(run)
    context = (await send.start(user, session, "go")).context
    with pytest.raises(StoreUnavailable):
        await send.run(context)
    assert tw.data.turns[context.turn_id].status is TurnStatus.RUNNING  # not failed: recovery resumes it
    assert run.running_here() == []
    # The database is back; another process (or this one) adopts it after the stale delay.
    tw.recorder.down = 0
    tw.clock.advance(60)
    recover = RecoverTurns(tw.turns, run, tw.clock, stale_after_s=30, abandon_after_s=3600)
    [adopted] = await recover.claim()
    await tw.resume(adopted)
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert turn.status is TurnStatus.COMPLETED
    assert sorted(e.status for e in tw.data.ledger) == ["cancelled", "success"]  # the lost answer is on record
    assert tw.data.intents == {}


async def test_a_turn_running_here_is_never_adopted_by_this_process(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", mode=Mode.ROUNDTABLE)
    context = (await tw.send().start(user, session, "go")).context
    tw.clock.advance(120)  # its heartbeat is stale: an outage stopped it
    assert await tw.recovery().claim(running_here={context.turn_id}) == []
    assert [c.turn_id for c in await tw.recovery().claim()] == [context.turn_id]


class CrashingRunner(SequentialTurnRunner):
    """Runs the first step, then breaks (a bug, not a provider failure)."""

    async def run(self, turn, execute_step, next_step):
        await execute_step(turn, turn.plan[0], [])
        raise RuntimeError("bug")


async def test_a_crash_after_a_completed_step_ends_the_turn_by_the_partial_failure_rule(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", "cy", mode=Mode.ROUNDTABLE)
    run = tw.run_turn()
    run._runner = CrashingRunner()
    send = tw.send(run)
    turn = (await send.execute(user, session, "go")).turn
    assert turn.status is TurnStatus.PARTIAL
    assert [(s.agent_key, s.status) for s in turn.steps] == [
        ("ada", StepStatus.COMPLETED),
        ("bob", StepStatus.FAILED),
        ("cy", StepStatus.FAILED),
    ]
    assert turn.steps[1].error.code == "internal_error"
    assert tw.data.events[turn.id][-1].type == "turn_completed"


async def test_an_abandoned_turn_keeps_its_completed_steps(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", mode=Mode.ROUNDTABLE)
    context = (await tw.send().start(user, session, "go")).context
    await tw.run_step(context, 0)  # step 0 committed, then the process died
    tw.clock.advance(7200)
    assert await tw.recovery().claim() == []
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert turn.status is TurnStatus.PARTIAL
    assert [(s.status, s.error.code if s.error else None) for s in turn.steps] == [
        (StepStatus.COMPLETED, None),
        (StepStatus.FAILED, "turn_abandoned"),
    ]
    assert tw.data.events[turn.id][-1].type == "turn_completed"


class CountingRunner(SequentialTurnRunner):
    forgotten = 0

    async def forget_finished(self) -> int:
        self.forgotten += 1
        return 0


async def test_a_supervision_round_heartbeats_its_turns_then_adopts_the_dead_and_tidies_up(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", mode=Mode.ROUNDTABLE)
    someone, _, theirs = await tw.room_with("bob", mode=Mode.ROUNDTABLE)
    other = (await tw.send().start(someone, theirs, "go")).context  # started by a process that died
    mine = (await tw.send().start(user, session, "go")).context
    run, runner = tw.run_turn(), CountingRunner()
    run._running.add(mine.turn_id)  # this process is running it (paused, say)
    tw.clock.advance(120)
    supervise = SuperviseTurns(tw.turns, tw.recovery(), run, runner, tw.clock)
    adopted = await supervise.round()
    assert [c.turn_id for c in adopted] == [other.turn_id]  # the dead process's, never ours
    assert tw.data.turns[mine.turn_id].heartbeat_at == tw.clock.now() and runner.forgotten == 1
    await supervise.resume(adopted[0])
    assert (await tw.turns.turn_of(someone, other.turn_id)).status is TurnStatus.COMPLETED
