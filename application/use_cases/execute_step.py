"""One agent step of a turn: call the model once (with its retries) and commit what was paid for."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import msgspec

from application.context import build_call_context
from application.events import EventLog
from application.ledger import attempt_entry, step_usage
from application.patience import Patience
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.llm import DeltaSink, LlmAttempt, LlmClient, LlmRequest
from application.ports.pricing import PricingStore
from application.ports.turns import (
    CallIntent,
    ContextAudit,
    LedgerEntry,
    StepRecorder,
    TurnContext,
    TurnStore,
)
from domain.errors import ContextBudgetExceeded
from domain.turns import PlannedStep, StepError, StepStatus, StepUsage, TurnStep

log = logging.getLogger(__name__)
T = TypeVar("T")
HISTORY_TURNS = 20  # never read more: the cost of a turn must not grow with the session's length


class IntentLog:
    """The AttemptObserver of one step: an intent row before every attempt, the outcome of failed ones,
    so that a crash at any point leaves a trace of every attempt that may have been paid for."""

    def __init__(
        self,
        recorder: StepRecorder,
        clock: Clock,
        template: CallIntent,
        durable: Callable[[Callable[[], Awaitable[None]]], Awaitable[None]],
        events: EventLog | None = None,
    ) -> None:
        self._recorder, self._clock, self.template, self._events = recorder, clock, template, events
        self._durable = durable
        self.started: dict[str, datetime] = {}

    async def attempt_started(self, call_id: str) -> None:
        at = self.started.setdefault(call_id, self._clock.now())
        intent = msgspec.structs.replace(self.template, call_id=UUID(call_id), started_at=at)
        # No call is sent before its intent is stored: while the database is down, the call waits.
        await self._durable(lambda: self._recorder.record_intent(intent))

    async def attempt_finished(self, attempt: LlmAttempt) -> None:
        # A success is committed with its step right away; only a failure waits for a retry.
        if attempt.status != "success":
            await self._durable(lambda: self._recorder.settle_intent(UUID(attempt.call_id), attempt))

    async def retract_deltas(self) -> bool:
        return self._events is None or self._events.retract_deltas(self.template.step_index)


class ExecuteStep:
    def __init__(
        self,
        llm: LlmClient,
        catalog: ModelCatalog,
        pricing: PricingStore,
        turns: TurnStore,
        recorder: StepRecorder,
        clock: Clock,
        ids: IdGenerator,
        patience: Patience,
        *,
        resuming: bool = False,
        events: EventLog | None = None,
        on_pause: Callable[[], None] | None = None,
    ) -> None:
        self._llm, self._catalog, self._pricing = llm, catalog, pricing
        self._turns, self._recorder, self._clock, self._ids = turns, recorder, clock, ids
        self._patience, self._on_pause = patience, on_pause
        self._resuming = resuming
        self._events = events
        self.attempts = 0  # ledger rows written by this executor

    async def _durable(self, operation: Callable[[], Awaitable[T]]) -> T:
        return await self._patience.retry(operation, self._on_pause)

    async def __call__(self, turn: TurnContext, planned: PlannedStep, earlier: list[TurnStep]) -> TurnStep:
        if self._resuming:
            done = await self._durable(lambda: self._recorder.committed_step(turn.turn_id, planned.index))
            if done is not None:  # committed before a crash: never call (and bill) it again
                return done
        on_delta: DeltaSink | None = None
        if self._events is not None:
            events = self._events
            events.step_started(planned)

            async def on_delta(text: str) -> None:
                await events.delta(planned.index, text)

        agent = planned.agent
        spec = self._catalog.spec(agent.model)
        if spec is None:
            return await self.fail(turn, planned, "unknown_model", f"Model alias {agent.model!r} is not configured.")
        # The store keeps a session's history warm (it came with the turn's start): no read per step.
        history = await self._durable(lambda: self._turns.history(turn.session_id, turn.turn_index, HISTORY_TURNS))
        try:
            context = build_call_context(turn, agent, spec, earlier, history)
        except ContextBudgetExceeded as exc:
            return await self.fail(turn, planned, exc.code, exc.detail)
        audit = None
        if not earlier:  # one audit row per turn, from its first step's context, committed with that step
            audit = ContextAudit(
                turn_id=turn.turn_id,
                input_budget=context.input_budget,
                estimated_tokens=context.estimated_tokens,
                history_turns=context.history_turns,
                actions=["history_truncated"] if context.history_truncated else [],
                created_at=self._clock.now(),
            )
        log_ = IntentLog(
            self._recorder,
            self._clock,
            CallIntent(
                call_id=self._ids.new_id(),
                turn_id=turn.turn_id,
                step_index=planned.index,
                agent_key=agent.agent_key,
                provider=spec.provider,
                model_alias=spec.alias,
                provider_model=spec.provider_model,
                estimated_input_tokens=context.estimated_tokens,
                started_at=self._clock.now(),
            ),
            self._durable,
            self._events,
        )
        request = LlmRequest(model=spec, messages=context.messages, first_call_id=str(log_.template.call_id))
        result = await self._llm.stream(request, on_delta, log_)
        pricing = await self._durable(lambda: self._pricing.pricing_version(turn.pricing_version))
        assert pricing is not None, "a turn always names a published pricing version"
        now = self._clock.now()
        # Each row is dated when its attempt was sent, so a step's retries list in the order they happened.
        entries = [
            attempt_entry(
                turn,
                planned.index,
                agent.agent_key,
                spec,
                a,
                pricing,
                self._ids.new_id(),
                log_.started.get(a.call_id, now),
            )
            for a in result.attempts
        ]
        step = TurnStep(
            index=planned.index,
            kind=planned.kind,
            agent_key=agent.agent_key,
            agent_name=agent.name,
            model=agent.model,
            status=StepStatus.COMPLETED if result.ok else StepStatus.FAILED,
            content=result.text if result.ok else "",
            error=result.error,
            usage=step_usage(entries),
        )
        if not result.ok:
            log.warning(
                "step failed",
                extra={
                    "fields": {
                        "step": planned.index,
                        "agent": agent.agent_key,
                        "code": result.error.code if result.error else None,
                    }
                },
            )
        return await self._commit(turn, step, entries, now, audit)

    async def fail(self, turn: TurnContext, planned: PlannedStep, code: str, detail: str) -> TurnStep:
        """Record the step as failed without calling its model."""
        step = TurnStep(
            index=planned.index,
            kind=planned.kind,
            agent_key=planned.agent.agent_key,
            agent_name=planned.agent.name,
            model=planned.agent.model,
            status=StepStatus.FAILED,
            content="",
            error=StepError(code=code, detail=detail),
            usage=StepUsage(),
        )
        return await self._commit(turn, step, [], self._clock.now())

    async def _commit(
        self,
        turn: TurnContext,
        step: TurnStep,
        entries: list[LedgerEntry],
        now: datetime,
        audit: ContextAudit | None = None,
    ) -> TurnStep:
        pending = []
        if self._events is not None:
            self._events.step_completed(step)
            pending = self._events.take()
        # The answer is paid for and only memory holds it: wait for the database rather than lose it.
        if await self._durable(lambda: self._recorder.commit_step(turn.turn_id, step, entries, now, audit, pending)):
            self.attempts += len(entries)
            if self._events is not None:
                self._events.settle(pending)
            return step
        # Already recorded: by an attempt of ours that landed although its answer was lost, or by
        # another run of this turn.
        if self._events is not None and await self._durable(lambda: self._events.reconcile(pending)):
            self.attempts += len(entries)
        stored = await self._durable(lambda: self._recorder.committed_step(turn.turn_id, step.index))
        assert stored is not None
        return stored
