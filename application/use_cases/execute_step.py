"""One step of a turn: resolve its model, read the history, call the model (with its retries) and
commit what was paid for. An agent's or the synthesis's step is one call, streamed; a manager's is a
decision, checked, repaired once if need be. Stateless: what a turn carries between steps is its
`TurnRun`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

import msgspec

from application.errors import CallRefused
from application.events import EventLog
from application.ledger import step_usage
from application.manager import decision_account
from application.patience import Patience
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.llm import LlmAttempt, LlmClient, LlmResult
from application.ports.pricing import PricingStore
from application.ports.turns import (
    CallIntent,
    ContextAudit,
    LedgerEntry,
    StepRecorder,
    TurnContext,
)
from application.ports.wallet import Reservation, WalletStore
from application.steps import (
    PreparedStep,
    TurnRun,
    answered_step,
    call_worst_case,
    failed_step,
    prepare_step,
    priced_rows,
    recorded_step,
    who,
)
from domain.decisions import Decision, DecisionError, Finish, decode_decision
from domain.errors import ContextBudgetExceeded
from domain.orchestration import refusal
from domain.pricing import PricingVersion
from domain.stopping import StopMode, StopReason, fits_credit_cap, output_within_cap, remaining_budget, spent
from domain.turns import PlannedStep, StepError, StepKind, TurnStep

log = logging.getLogger(__name__)
INSUFFICIENT_CREDITS = "insufficient_credits"
NOT_RESERVED = "Not enough available credits for this call's worst case: it was not sent."
T = TypeVar("T")
Durable = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]


class IntentLog:
    """The AttemptObserver of one call: an intent row before every attempt, the outcome of failed ones,
    so that a crash at any point leaves a trace of every attempt that may have been paid for."""

    def __init__(
        self,
        recorder: StepRecorder,
        clock: Clock,
        template: CallIntent,
        durable: Durable[None],
        events: EventLog,
        reserve: Callable[[UUID], Awaitable[bool]] | None = None,
    ) -> None:
        self._recorder, self._clock, self._durable, self._events = recorder, clock, durable, events
        self._template, self._reserve = template, reserve
        self.started: dict[str, datetime] = {}
        self.finished: list[LlmAttempt] = []  # what was paid for, should a later attempt be refused

    async def attempt_started(self, call_id: str) -> None:
        # Invariant 8: no attempt is sent before its worst case is reserved (retries included).
        if self._reserve is not None and not await self._reserve(UUID(call_id)):
            raise CallRefused(StepError(code=INSUFFICIENT_CREDITS, detail=NOT_RESERVED))
        at = self.started.setdefault(call_id, self._clock.now())
        intent = msgspec.structs.replace(self._template, call_id=UUID(call_id), started_at=at)
        # No call is sent before its intent is stored: while the database is down, the call waits.
        await self._durable(lambda: self._recorder.record_intent(intent))

    async def attempt_finished(self, attempt: LlmAttempt) -> None:
        self.finished.append(attempt)
        # A success is committed with its step right away; only a failure waits for a retry.
        if attempt.status != "success":
            await self._durable(lambda: self._recorder.settle_intent(UUID(attempt.call_id), attempt))

    async def retract_deltas(self) -> bool:
        index = self._template.step_index
        return True if index is None else self._events.retract_deltas(index)  # a summary streams nothing


class ExecuteStep:
    def __init__(
        self,
        llm: LlmClient,
        catalog: ModelCatalog,
        pricing: PricingStore,
        recorder: StepRecorder,
        clock: Clock,
        ids: IdGenerator,
        patience: Patience,
        wallet: WalletStore | None = None,
    ) -> None:
        self._llm, self._catalog, self._pricing = llm, catalog, pricing
        self._recorder, self._clock, self._ids, self._patience = recorder, clock, ids, patience
        self._wallet = wallet  # None: wallets are off (PANTHEON_WALLETS=false, the bench's comparison)

    async def execute(self, run: TurnRun, planned: PlannedStep, earlier: list[TurnStep]) -> TurnStep | None:
        """The step, committed; None when the credit cap did not let its call start (nothing is written)."""
        turn = run.context

        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation, run.on_pause)

        if run.resuming:
            done = await durable(lambda: self._recorder.committed_step(turn.turn_id, planned.index))
            if done is not None:  # committed before a crash: never call (and bill) it again
                return done
        speaker = who(turn, planned)

        def started() -> None:
            run.events.step_started(planned, speaker.agent_key, speaker.agent_name, speaker.model)

        spec = self._catalog.spec(speaker.model)
        if spec is None:
            started()
            detail = f"Model alias {speaker.model!r} is not configured."
            return await self._commit(run, failed_step(turn, planned, "unknown_model", detail), [], durable)
        now = self._clock.now()
        remaining = remaining_budget(turn.caps, earlier, (now - turn.created_at).total_seconds(), run.outside_steps)
        try:
            prepared = prepare_step(
                turn, planned, earlier, run.memory, spec, call_id=self._ids.new_id(), now=now, remaining=remaining
            )
        except ContextBudgetExceeded as exc:
            started()
            extra = {"agent_key": speaker.agent_key, **exc.extra} if isinstance(exc.extra, dict) else None
            failed = failed_step(turn, planned, exc.code, exc.detail, extra)
            return await self._commit(run, failed, [], durable)
        within = await self._within_cap(run, prepared, spent(earlier) + run.outside_steps, durable)
        if within is None:
            return None  # not started: the turn stops at the credit cap (the program knows it)
        prepared = within
        started()
        if planned.kind is StepKind.MANAGER:
            return await self._decide(run, prepared, earlier, durable)
        result, rows = await self._call(run, prepared, durable, streamed=True)
        if result.error is not None:
            fields = {"step": planned.index, "agent": speaker.agent_key, "code": result.error.code}
            log.warning("step failed", extra={"fields": fields})
        return await self._commit(run, answered_step(turn, planned, result, rows), rows, durable, [prepared.audit])

    async def fail(self, run: TurnRun, planned: PlannedStep, code: str, detail: str) -> TurnStep:
        """Record the step as failed without calling its model."""

        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation, run.on_pause)

        return await self._commit(run, failed_step(run.context, planned, code, detail), [], durable)

    async def _decide(
        self, run: TurnRun, prepared: PreparedStep, earlier: list[TurnStep], durable: Durable[object]
    ) -> TurnStep:
        """A manager step: a decision, checked against the roster and the caps; one repair call quoting
        what was wrong; then the fallback, finishing with what exists (recorded as the step's error)."""
        turn, planned = run.context, prepared.planned
        result, rows = await self._call(run, prepared, durable, streamed=False)
        audits = [prepared.audit]
        if result.stopped:  # cut by a `now` stop: no decision, and nothing runs after it
            step = recorded_step(turn, planned, rows, content=result.text, error=None, stopped=True)
            return await self._commit(run, step, rows, durable, audits)
        decision, why = judge(turn, earlier, result)
        if decision is None and result.ok:
            now = self._clock.now()
            repair: PreparedStep | None = prepare_step(
                turn,
                planned,
                earlier,
                run.memory,
                prepared.spec,
                call_id=self._ids.new_id(),
                now=now,
                refused=(result.text, why),
                remaining=remaining_budget(
                    turn.caps, earlier, (now - turn.created_at).total_seconds(), run.outside_steps
                ),
            )
            assert repair is not None
            so_far = spent(earlier) + run.outside_steps + step_usage(rows).credits
            repair = await self._within_cap(run, repair, so_far, durable, stop=False)
            if repair is not None:  # else the credit cap leaves no room for it: the fallback finishes
                result, more = await self._call(run, repair, durable, streamed=False)
                rows += more
                audits.append(repair.audit)
                decision, why = judge(turn, earlier, result)
        if decision is not None:
            step = recorded_step(turn, planned, rows, content=decision_account(decision), error=None, decision=decision)
        else:
            fallback = Finish(reason=f"The manager gave no valid decision ({why}); finishing with what exists.")
            error = StepError(code="invalid_decision", detail=f"No valid decision after one repair: {why}")
            if result.error is not None and result.error.code == INSUFFICIENT_CREDITS:
                error = result.error  # the manager could not be asked at all
            log.warning("manager fell back", extra={"fields": {"step": planned.index, "why": why}})
            step = recorded_step(turn, planned, rows, content=fallback.reason, error=error, decision=fallback)
        return await self._commit(run, step, rows, durable, audits)

    async def _call(
        self, run: TurnRun, prepared: PreparedStep, durable: Durable[object], *, streamed: bool
    ) -> tuple[LlmResult, list[LedgerEntry]]:
        """One call with its retries, an intent before each attempt, and its priced ledger rows."""
        turn, index = run.context, prepared.planned.index
        pricing = await durable(lambda: self._pricing.pricing_version(turn.pricing_version))
        assert pricing is not None, "a turn always names a published pricing version"
        observer = IntentLog(
            self._recorder,
            self._clock,
            prepared.intent,
            durable,
            run.events,
            self._reserver(run, prepared, pricing, durable),
        )

        async def on_delta(text: str) -> None:
            await run.events.delta(index, text)

        try:
            result = await self._llm.stream(prepared.request, on_delta if streamed else None, observer, run.stop)
        except CallRefused as refused:  # not sent; the attempts before it (if any) were paid for
            result = LlmResult(text="", attempts=observer.finished, error=refused.error)
        row_ids = [self._ids.new_id() for _ in result.attempts]
        rows = priced_rows(
            turn, prepared, result, pricing, row_ids=row_ids, started=observer.started, now=self._clock.now()
        )
        return result, rows

    def _reserver(
        self, run: TurnRun, prepared: PreparedStep, pricing: PricingVersion, durable: Durable[object]
    ) -> Callable[[UUID], Awaitable[bool]] | None:
        """What reserves each attempt's worst case in the wallet (None when wallets are off)."""
        if self._wallet is None:
            return None
        amount = call_worst_case(prepared, pricing)
        reserve = reserver(self._wallet, self._clock, durable, run.context, prepared.planned.index, amount)

        async def reserve_or_hold(call_id: UUID) -> bool:
            hold = run.context.opening_hold
            if hold is not None and not run.hold_taken and amount <= hold:
                run.hold_taken = True  # the turn's first step's first attempt: its worst case is held already
                return True
            return await reserve(call_id)

        return reserve_or_hold

    async def _within_cap(
        self,
        run: TurnRun,
        prepared: PreparedStep,
        spent_so_far: Decimal,
        durable: Durable[object],
        *,
        stop: bool = True,
    ) -> PreparedStep | None:
        """The call as it may be sent under the turn's credit cap: unchanged when its worst case (what
        the wallet reserves: the estimated prompt plus its output limit, priced by the turn's version)
        fits what is left; a synthesis with a lower output limit when that makes it fit; else None, and
        (`stop`) the turn stops at the cap."""
        caps, turn = run.context.caps, run.context
        if caps.max_credits is None:
            return prepared
        pricing = await durable(lambda: self._pricing.pricing_version(turn.pricing_version))
        assert pricing is not None, "a turn always names a published pricing version"
        alias, estimated = prepared.spec.alias, prepared.intent.estimated_input_tokens
        limit = prepared.request.max_output_tokens
        kind = prepared.planned.kind
        if kind is StepKind.SYNTHESIS:
            fitting = output_within_cap(caps, spent_so_far, pricing, alias, estimated, limit)
        else:
            fitting = limit if fits_credit_cap(caps, spent_so_far, pricing, alias, estimated, limit) else None
        if fitting is None:
            fields = {"step": prepared.planned.index, "kind": kind.value, "spent": str(spent_so_far)}
            log.info("call refused by the credit cap", extra={"fields": fields})
            if stop:
                run.stop.request(StopMode.AFTER_STEP, StopReason.CREDIT_CAP)
                run.stop.synthesis_refused = run.stop.synthesis_refused or kind is StepKind.SYNTHESIS
            return None
        if fitting == limit:
            return prepared
        request = msgspec.structs.replace(prepared.request, max_output_tokens=fitting)
        return msgspec.structs.replace(prepared, request=request)

    async def _commit(
        self,
        run: TurnRun,
        step: TurnStep,
        entries: list[LedgerEntry],
        durable: Durable[object],
        audits: list[ContextAudit] | None = None,
    ) -> TurnStep:
        turn_id, events, now = run.context.turn_id, run.events, self._clock.now()
        events.step_completed(step)
        pending = events.take()
        # The answer is paid for and only memory holds it: wait for the database rather than lose it.
        if await durable(lambda: self._recorder.commit_step(turn_id, step, entries, now, audits, pending)):
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


def reserver(
    wallet: WalletStore,
    clock: Clock,
    durable: Durable[object],
    turn: TurnContext,
    step_index: int | None,
    amount: Decimal,
) -> Callable[[UUID], Awaitable[bool]]:
    """Reserves `amount` for each attempt of a call of `turn` (step_index None: its summary call)."""

    async def reserve(call_id: UUID) -> bool:
        held = Reservation(
            call_id=call_id,
            user_id=turn.user_id,
            turn_id=turn.turn_id,
            step_index=step_index,
            amount=amount,
            at=clock.now(),
        )
        return bool(await durable(lambda: wallet.reserve(held)))

    return reserve


def judge(turn: TurnContext, earlier: list[TurnStep], result: LlmResult) -> tuple[Decision | None, str]:
    """The manager's decision if it can be carried out, else (None, why not)."""
    if not result.ok:
        return None, f"the call failed ({result.error.code if result.error else 'error'})"
    try:
        decision = decode_decision(result.text)
    except DecisionError as exc:
        return None, str(exc)
    refused = refusal(decision, turn.roster, earlier)
    return (None, refused) if refused else (decision, "")
