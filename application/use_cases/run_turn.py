"""Running a turn (or resuming one) to its end: its steps on the runner, its events, its final mark."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from application.errors import StoreUnavailable
from application.events import EventLog
from application.ledger import recovered_entry
from application.log_context import turn_id_var
from application.patience import Patience
from application.ports.clock import Clock, IdGenerator
from application.ports.events import TurnEvent, TurnEventStore
from application.ports.pricing import PricingStore
from application.ports.stops import StopWatch
from application.ports.turns import NextStep, StepExecutor, StepRecorder, TurnContext, TurnRunner, TurnStore
from application.steps import TurnRun, who
from application.use_cases.execute_step import ExecuteStep
from application.use_cases.remember_session import RememberSession
from domain.orchestration import orchestration_of
from domain.outcome import turn_status
from domain.planning import next_step
from domain.stopping import StopMode, StopReason, next_step_stopping
from domain.turns import PlannedStep, StepError, StepUsage, Turn, TurnStatus, TurnStep, TurnUsage

log = logging.getLogger(__name__)
T = TypeVar("T")


def finished_turn(
    context: TurnContext,
    status: TurnStatus,
    steps: list[TurnStep],
    llm_calls: int,
    completed_at: datetime,
    overhead: list[StepUsage] | None = None,
    stop_reason: str | None = None,
) -> Turn:
    """The turn as its run saw it end. Its usage is that of every ledger row of the turn: its steps'
    and, in `overhead`, the calls that belong to no step (its summary's)."""
    spent = [s.usage for s in steps] + (overhead or [])
    usage = TurnUsage(
        llm_calls=llm_calls,
        input_tokens=sum(u.input_tokens for u in spent),
        output_tokens=sum(u.output_tokens for u in spent),
        credits=sum((u.credits for u in spent), start=TurnUsage().credits),
    )
    return Turn(
        id=context.turn_id,
        session_id=context.session_id,
        turn_index=context.turn_index,
        mode=context.mode,
        status=status,
        user_message=context.user_message,
        steps=steps,
        usage=usage,
        created_at=context.created_at,
        completed_at=completed_at,
        stop_reason=stop_reason,
        orchestration=orchestration_of(context.mode, steps),
    )


def program(turn: TurnContext, steps: list[TurnStep]) -> PlannedStep | None:
    """What the runner runs next: the domain decides (a plan, or the manager's last decision)."""
    return next_step(turn.mode, turn.plan, turn.roster, steps)


def stopping_program(run: TurnRun, clock: Clock) -> NextStep:
    """The program of a run that may be stopped: by the user (`run.stop`, set by the stop watch), or by
    a cap per turn reached at a step boundary (recorded on `run.stop` here)."""

    def next_of(turn: TurnContext, steps: list[TurnStep]) -> PlannedStep | None:
        elapsed_s = (clock.now() - turn.created_at).total_seconds()
        upcoming = next_step_stopping(
            turn.mode,
            turn.plan,
            turn.roster,
            steps,
            run.stop.stop,
            caps=turn.caps,
            elapsed_s=elapsed_s,
            outside=run.outside_steps,
            synthesis_refused=run.stop.synthesis_refused,
        )
        run.stop.impose(upcoming.stop)
        return upcoming.step

    return next_of


def outcome(run: TurnRun, steps: list[TurnStep]) -> tuple[TurnStatus, str | None]:
    """The turn's status and stop reason: `stopped` once a stop was asked for or a cap reached, else
    the partial-failure rule."""
    if run.stop.stop is not None:
        return TurnStatus.STOPPED, run.stop.stop.reason.value
    return turn_status(step.status for step in steps), None


class RunTurn:
    def __init__(
        self,
        turns: TurnStore,
        runner: TurnRunner,
        execute_step: ExecuteStep,
        memory: RememberSession,
        events: TurnEventStore,
        recorder: StepRecorder,
        pricing: PricingStore,
        patience: Patience,
        clock: Clock,
        ids: IdGenerator,
        stops: StopWatch,
    ) -> None:
        self._turns, self._runner, self._step, self._events = turns, runner, execute_step, events
        self._memory = memory
        self._recorder, self._pricing, self._patience = recorder, pricing, patience
        self._clock, self._ids, self._stops = clock, ids, stops
        self._running: set[UUID] = set()  # turns this process is running (paused ones included)

    def running_here(self) -> list[UUID]:
        """The turns this process answers for: it heartbeats them, and nobody else may adopt them."""
        return list(self._running)

    async def execute(
        self,
        context: TurnContext,
        *,
        resume: bool = False,
        listener: Callable[[TurnEvent], None] | None = None,
        on_pause: Callable[[], None] | None = None,
    ) -> Turn:
        """Run (or resume) the turn to its end and mark it. Its events are persisted as they happen
        (replayable by any process) and handed to `listener`; `on_pause` is told when the turn starts
        waiting for the database.

        A crash of the runner ends the turn by the partial-failure rule, never the server. A database
        outage longer than the turn's patience raises StoreUnavailable and leaves the turn `running`,
        for whichever process recovers it once the database is back.
        """
        turn_id_var.set(str(context.turn_id))
        self._running.add(context.turn_id)
        try:
            return await self._execute(context, resume, listener, on_pause)
        finally:
            self._running.discard(context.turn_id)

    async def _execute(
        self,
        context: TurnContext,
        resume: bool,
        listener: Callable[[TurnEvent], None] | None,
        on_pause: Callable[[], None] | None,
    ) -> Turn:
        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation, on_pause)

        next_seq = await durable(lambda: self._events.next_seq(context.turn_id)) if resume else 1
        events = EventLog(context, self._events, self._clock, next_seq, listener, on_pause)
        events.started()
        run = TurnRun(context=context, events=events, resuming=resume, on_pause=on_pause)

        def on_stop(mode: StopMode) -> None:
            before = run.stop.stop
            run.stop.request(mode, StopReason.USER)
            # Logged once per change, however often the watch repeats it.
            if run.stop.stop is not None and run.stop.stop != before:
                log.info("turn stopping", extra={"fields": {"mode": mode.value, "reason": run.stop.stop.reason.value}})

        try:
            run.memory = await self._memory.prepare(run)
            # A resumed turn applies a stop stored already before its first step; a new one hears of a
            # stop at the watch's next round at worst.
            await durable(lambda: self._stops.watch(context.turn_id, on_stop, read_now=resume))
            runner = self._runner.resume if resume else self._runner.run
            steps = await runner(context, self._steps_of(run), stopping_program(run, self._clock))
        except StoreUnavailable:
            log.error("the database stayed unavailable: the turn is left running, for recovery")
            raise
        except Exception as exc:
            log.exception("turn crashed")
            error = StepError(code="internal_error", detail=f"The turn could not run: {type(exc).__name__}.")
            return await self._close_out(run, error, durable)
        finally:
            self._stops.unwatch(context.turn_id)
        status, stop_reason = outcome(run, steps)
        completed_at = self._clock.now()
        if not resume:
            # Every row of this turn was written by this run: no need to read them back.
            turn = finished_turn(context, status, steps, run.attempts, completed_at, run.overhead, stop_reason)
            events.turn_completed(turn)
            if await durable(lambda: self._finish(context, status, None, events, completed_at, stop_reason)):
                return turn
            if not await self._stopped_meanwhile(run, durable):
                return turn  # finished elsewhere
            status, stop_reason = outcome(run, steps)
            turn = finished_turn(context, status, steps, run.attempts, completed_at, run.overhead, stop_reason)
            events.turn_completed(turn)
            await durable(lambda: self._finish(context, status, None, events, completed_at, stop_reason))
            return turn
        return await self._finish_resumed(run, status, steps, durable, stop_reason)

    def _steps_of(self, run: TurnRun) -> StepExecutor:
        """The runner's step executor, bound to this run's state."""

        async def execute_step(turn: TurnContext, planned: PlannedStep, earlier: list[TurnStep]) -> TurnStep | None:
            return await self._step.execute(run, planned, earlier)

        return execute_step

    async def close_out(self, context: TurnContext, error: StepError) -> Turn:
        """End a turn that cannot run on (abandoned after a crash), by the partial-failure rule."""

        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation)

        next_seq = await durable(lambda: self._events.next_seq(context.turn_id))
        run = TurnRun(context=context, events=EventLog(context, self._events, self._clock, next_seq), resuming=True)
        return await self._close_out(run, error, durable)

    async def cancel_cut_calls(self, context: TurnContext) -> None:
        """Give every call attempt that was in flight when the turn stopped its ledger row (invariant 1)."""
        intents = await self._patience.retry(lambda: self._recorder.open_intents(context.turn_id))
        if not intents:
            return
        pricing = await self._patience.retry(lambda: self._pricing.pricing_version(context.pricing_version))
        assert pricing is not None
        now = self._clock.now()
        entries = [recovered_entry(context, i, pricing, self._ids.new_id(), now) for i in intents]
        await self._patience.retry(lambda: self._recorder.cancel_intents(context.turn_id, entries))

    async def _close_out(
        self, run: TurnRun, error: StepError, durable: Callable[[Callable[[], Awaitable[object]]], Awaitable[object]]
    ) -> Turn:
        """Steps that completed keep the turn alive: the planned steps that never ran are recorded as
        failed with `error` and the turn ends by the partial-failure rule. A turn with no step at all
        could not run: it ends `failed`, with `turn_failed`."""
        context, events = run.context, run.events
        await self.cancel_cut_calls(context)
        stored = await self._read(context)
        done = {step.index: step for step in stored.steps} if stored else {}
        completed_at = self._clock.now()
        if not done:
            events.turn_failed(error)
            await durable(lambda: self._finish(context, TurnStatus.FAILED, error, events, completed_at))
            return await self._read(context) or finished_turn(
                context, TurnStatus.FAILED, [], run.attempts, completed_at
            )
        steps = []
        for planned in context.plan:
            if planned.index not in done:
                speaker = who(context, planned)  # a repeated step_started restarts that step (README, Events)
                events.step_started(planned, speaker.agent_key, speaker.agent_name, speaker.model)
            steps.append(done.get(planned.index) or await self._step.fail(run, planned, error.code, error.detail))
        status = turn_status(step.status for step in steps)
        return await self._finish_resumed(run, status, steps, durable)

    async def _finish_resumed(
        self,
        run: TurnRun,
        status: TurnStatus,
        steps: list[TurnStep],
        durable: Callable[[Callable[[], Awaitable[object]]], Awaitable[object]],
        stop_reason: str | None = None,
    ) -> Turn:
        # A resumed turn's totals include what the process before this one paid: read them back.
        context, events, completed_at = run.context, run.events, self._clock.now()
        finished_here = await durable(lambda: self._finish(context, status, None, events, completed_at, stop_reason))
        if not finished_here and await self._stopped_meanwhile(run, durable):
            status, stop_reason = outcome(run, steps)
            finished_here = await durable(
                lambda: self._finish(context, status, None, events, completed_at, stop_reason)
            )
        turn = await self._read(context) or finished_turn(
            context, status, steps, run.attempts, completed_at, run.overhead, stop_reason
        )
        if finished_here:
            events.turn_completed(turn)
            await durable(events.flush)
        return turn

    async def _stopped_meanwhile(
        self, run: TurnRun, durable: Callable[[Callable[[], Awaitable[object]]], Awaitable[object]]
    ) -> bool:
        """The final mark was refused: a stop was stored after the watch last looked (the turn ends
        `stopped` after all, True), or the turn was finished elsewhere (False)."""
        if run.stop.stop is not None:
            return False
        mode = await durable(lambda: self._stops.current(run.context.turn_id))
        if mode is None:
            return False
        run.stop.request(mode, StopReason.USER)  # type: ignore[arg-type]
        return True

    async def _finish(
        self,
        context: TurnContext,
        status: TurnStatus,
        error: StepError | None,
        events: EventLog,
        at: datetime,
        stop_reason: str | None = None,
    ) -> bool:
        pending = events.take()
        if await self._turns.finish_turn(context.turn_id, status, at, error, pending, stop_reason):
            events.settle(pending)
            return True
        # Finished already: by an attempt of ours that landed although its answer was lost, or elsewhere.
        return await events.reconcile(pending)

    async def _read(self, context: TurnContext) -> Turn | None:
        """The stored turn; None when its room was deleted while it ran."""
        return await self._patience.retry(lambda: self._turns.turn_of(context.user_id, context.turn_id))
