"""Running a turn (or resuming one) to its end: its steps on the runner, its events, its final mark."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from application.events import EventLog
from application.log_context import turn_id_var
from application.ports.clock import Clock
from application.ports.events import TurnEvent, TurnEventStore
from application.ports.turns import TurnContext, TurnRunner, TurnStore
from application.use_cases.execute_step import ExecuteStep
from domain.outcome import turn_status
from domain.turns import StepError, Turn, TurnStatus, TurnStep, TurnUsage

log = logging.getLogger(__name__)


def finished_turn(
    context: TurnContext, status: TurnStatus, steps: list[TurnStep], llm_calls: int, completed_at: datetime
) -> Turn:
    usage = TurnUsage(
        llm_calls=llm_calls,
        input_tokens=sum(s.usage.input_tokens for s in steps),
        output_tokens=sum(s.usage.output_tokens for s in steps),
        credits=sum((s.usage.credits for s in steps), start=TurnUsage().credits),
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
    )


class RunTurn:
    def __init__(
        self,
        turns: TurnStore,
        runner: TurnRunner,
        execute_step: Callable[..., ExecuteStep],
        events: TurnEventStore,
        clock: Clock,
    ) -> None:
        self._turns, self._runner, self._execute_step, self._events, self._clock = (
            turns,
            runner,
            execute_step,
            events,
            clock,
        )

    async def execute(
        self, context: TurnContext, *, resume: bool = False, listener: Callable[[TurnEvent], None] | None = None
    ) -> Turn:
        """Run (or resume) the turn to its end and mark it; a crash of the runner fails the turn, not the server.

        Its events are persisted as they happen (replayable by any process) and handed to `listener`.
        """
        turn_id_var.set(str(context.turn_id))
        next_seq = await self._events.next_seq(context.turn_id) if resume else 1
        events = EventLog(context, self._events, self._clock, next_seq, listener)
        events.started()
        executor = self._execute_step(resuming=resume, events=events)
        try:
            steps = await (self._runner.resume if resume else self._runner.run)(context, executor)
        except Exception as exc:
            log.exception("turn crashed")
            error = StepError(code="internal_error", detail=f"The turn could not run: {type(exc).__name__}.")
            events.turn_failed(error)
            completed_at = self._clock.now()
            await self._finish(context, TurnStatus.FAILED, error, events, completed_at)
            return await self._read(context) or finished_turn(
                context, TurnStatus.FAILED, [], executor.attempts, completed_at
            )
        status = turn_status(step.status for step in steps)
        completed_at = self._clock.now()
        if not resume:
            # Every row of this turn was written by this executor: no need to read them back.
            turn = finished_turn(context, status, steps, executor.attempts, completed_at)
            events.turn_completed(turn)
            await self._finish(context, status, None, events, completed_at)
            return turn
        # A resumed turn's totals include what the process before this one paid: read them back.
        finished_here = await self._finish(context, status, None, events, completed_at)
        turn = await self._read(context) or finished_turn(context, status, steps, executor.attempts, completed_at)
        if finished_here:
            events.turn_completed(turn)
            await events.flush()
        return turn

    async def _finish(
        self,
        context: TurnContext,
        status: TurnStatus,
        error: StepError | None,
        events: EventLog,
        at: datetime,
    ) -> bool:
        pending = events.take()
        if await self._turns.finish_turn(context.turn_id, status, at, error, pending):
            events.settle(pending)
            return True
        events.discard()  # someone else finished it (and wrote its last events)
        return False

    async def _read(self, context: TurnContext) -> Turn | None:
        """The stored turn; None when its room was deleted while it ran."""
        return await self._turns.turn_of(context.user_id, context.turn_id)
