"""One step of a turn: resolve its model, read the history, call the model once (with its retries)
and commit what was paid for. Stateless: what a turn carries between steps is its `TurnRun`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import msgspec

from application.events import EventLog
from application.patience import Patience
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.llm import LlmAttempt, LlmClient
from application.ports.pricing import PricingStore
from application.ports.turns import CallIntent, ContextAudit, HistoryStore, LedgerEntry, StepRecorder
from application.steps import HISTORY_TURNS, TurnRun, answered_step, failed_step, prepare_step
from domain.errors import ContextBudgetExceeded
from domain.turns import PlannedStep, TurnStep

log = logging.getLogger(__name__)
T = TypeVar("T")
Durable = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]


class IntentLog:
    """The AttemptObserver of one call: an intent row before every attempt, the outcome of failed ones,
    so that a crash at any point leaves a trace of every attempt that may have been paid for."""

    def __init__(
        self, recorder: StepRecorder, clock: Clock, template: CallIntent, durable: Durable[None], events: EventLog
    ) -> None:
        self._recorder, self._clock, self._durable, self._events = recorder, clock, durable, events
        self._template = template
        self.started: dict[str, datetime] = {}

    async def attempt_started(self, call_id: str) -> None:
        at = self.started.setdefault(call_id, self._clock.now())
        intent = msgspec.structs.replace(self._template, call_id=UUID(call_id), started_at=at)
        # No call is sent before its intent is stored: while the database is down, the call waits.
        await self._durable(lambda: self._recorder.record_intent(intent))

    async def attempt_finished(self, attempt: LlmAttempt) -> None:
        # A success is committed with its step right away; only a failure waits for a retry.
        if attempt.status != "success":
            await self._durable(lambda: self._recorder.settle_intent(UUID(attempt.call_id), attempt))

    async def retract_deltas(self) -> bool:
        return self._events.retract_deltas(self._template.step_index)


class ExecuteStep:
    def __init__(
        self,
        llm: LlmClient,
        catalog: ModelCatalog,
        pricing: PricingStore,
        history: HistoryStore,
        recorder: StepRecorder,
        clock: Clock,
        ids: IdGenerator,
        patience: Patience,
    ) -> None:
        self._llm, self._catalog, self._pricing, self._history = llm, catalog, pricing, history
        self._recorder, self._clock, self._ids, self._patience = recorder, clock, ids, patience

    async def execute(self, run: TurnRun, planned: PlannedStep, earlier: list[TurnStep]) -> TurnStep:
        turn = run.context

        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation, run.on_pause)

        if run.resuming:
            done = await durable(lambda: self._recorder.committed_step(turn.turn_id, planned.index))
            if done is not None:  # committed before a crash: never call (and bill) it again
                return done
        run.events.step_started(planned)
        spec = self._catalog.spec(planned.agent.model)
        if spec is None:
            detail = f"Model alias {planned.agent.model!r} is not configured."
            return await self._commit(run, failed_step(planned, "unknown_model", detail), [], durable)
        history = await durable(
            lambda: self._history.recent(turn.session_id, before_index=turn.turn_index, limit=HISTORY_TURNS)
        )
        try:
            prepared = prepare_step(
                turn, planned, earlier, history, spec, call_id=self._ids.new_id(), now=self._clock.now()
            )
        except ContextBudgetExceeded as exc:
            return await self._commit(run, failed_step(planned, exc.code, exc.detail), [], durable)
        observer = IntentLog(self._recorder, self._clock, prepared.intent, durable, run.events)

        async def on_delta(text: str) -> None:
            await run.events.delta(planned.index, text)

        result = await self._llm.stream(prepared.request, on_delta, observer)
        pricing = await durable(lambda: self._pricing.pricing_version(turn.pricing_version))
        assert pricing is not None, "a turn always names a published pricing version"
        row_ids = [self._ids.new_id() for _ in result.attempts]
        step, entries = answered_step(
            turn, prepared, result, pricing, row_ids=row_ids, started=observer.started, now=self._clock.now()
        )
        if result.error is not None:
            fields = {"step": planned.index, "agent": planned.agent.agent_key, "code": result.error.code}
            log.warning("step failed", extra={"fields": fields})
        return await self._commit(run, step, entries, durable, prepared.audit)

    async def fail(self, run: TurnRun, planned: PlannedStep, code: str, detail: str) -> TurnStep:
        """Record the step as failed without calling its model."""

        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation, run.on_pause)

        return await self._commit(run, failed_step(planned, code, detail), [], durable)

    async def _commit(
        self,
        run: TurnRun,
        step: TurnStep,
        entries: list[LedgerEntry],
        durable: Durable[object],
        audit: ContextAudit | None = None,
    ) -> TurnStep:
        turn_id, events, now = run.context.turn_id, run.events, self._clock.now()
        events.step_completed(step)
        pending = events.take()
        # The answer is paid for and only memory holds it: wait for the database rather than lose it.
        if await durable(lambda: self._recorder.commit_step(turn_id, step, entries, now, audit, pending)):
            run.attempts += len(entries)
            events.settle(pending)
            return step
        # Already recorded: by an attempt of ours that landed although its answer was lost, or by
        # another run of this turn.
        if await durable(lambda: events.reconcile(pending)):
            run.attempts += len(entries)
        stored = await durable(lambda: self._recorder.committed_step(turn_id, step.index))
        assert stored is not None
        return stored  # type: ignore[return-value]
