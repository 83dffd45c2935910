"""A step of a turn, prepared before its call and recorded after it by pure functions: what the
model is sent, the intent committed before each attempt, the context audit, and then the step and
its priced ledger rows. The executor around them (use_cases/execute_step.py) only does the I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

import msgspec

from application.context import build_call_context
from application.events import EventLog
from application.ledger import attempt_entry, step_usage
from application.manager import DECISION_FORMAT, MANAGER_NAME, manager_messages, synthesis_messages
from application.memory import Memory
from application.ports.llm import ChatMessage, LlmRequest, LlmResult
from application.ports.turns import CallIntent, ContextAudit, LedgerEntry, Purpose, TurnContext
from application.stopping import StopSignal
from domain.budget import compute_budget, message_tokens
from domain.decisions import Decision
from domain.errors import ContextBudgetExceeded
from domain.model import ModelSpec
from domain.pricing import PricingVersion
from domain.turns import PlannedStep, StepError, StepKind, StepStatus, StepUsage, TurnStep
from domain.wallet import worst_case

HISTORY_TURNS = 20  # raw turns read after the summary, at most: a turn's cost must not grow with the session
PURPOSE: dict[StepKind, Purpose] = {
    StepKind.AGENT: "agent",
    StepKind.MANAGER: "manager",
    StepKind.SYNTHESIS: "synthesis",
}


@dataclass
class TurnRun:
    """What one run of a turn carries from step to step, passed explicitly (never built by the container)."""

    context: TurnContext
    events: EventLog
    resuming: bool = False  # steps committed before a crash are read back, never called again
    on_pause: Callable[[], None] | None = None  # told when the turn starts waiting for the database
    attempts: int = 0  # ledger rows this run wrote
    memory: Memory = field(default_factory=Memory)  # the session as the turn sees it (read at its start)
    overhead: list[StepUsage] = field(default_factory=list)  # calls of no step (the summary's) this run paid
    hold_taken: bool = False  # the turn's opening hold already stood for a call attempt of this run
    stop: StopSignal = field(default_factory=StopSignal)  # a stop asked for, by the user or a cap

    @property
    def outside_steps(self) -> Decimal:
        """Credits this run burned in calls of no step (the summary's): they count against the credit cap."""
        return sum((u.credits for u in self.overhead), start=Decimal("0.0000"))


@dataclass(frozen=True)
class Who:
    """Who speaks in a step: an agent, or (manager and synthesis steps) the manager."""

    agent_key: str | None
    agent_name: str
    model: str


def who(turn: TurnContext, planned: PlannedStep) -> Who:
    if planned.agent is not None:
        return Who(planned.agent.agent_key, planned.agent.name, planned.agent.model)
    return Who(None, MANAGER_NAME, turn.manager_model or "")


class PreparedStep(msgspec.Struct, frozen=True, kw_only=True):
    planned: PlannedStep
    spec: ModelSpec
    request: LlmRequest
    intent: CallIntent  # the first attempt's; later attempts copy it with their own call_id
    audit: ContextAudit  # why this call sees what it sees


def prepare_step(
    turn: TurnContext,
    planned: PlannedStep,
    earlier: list[TurnStep],
    memory: Memory,
    spec: ModelSpec,
    *,
    call_id: UUID,
    now: datetime,
    refused: tuple[str, str] | None = None,
    remaining: str | None = None,
) -> PreparedStep:
    """What to send for this step (a manager step's repair call when `refused` says what went wrong;
    `remaining`, what is left of the turn's caps, told to the manager). Raises ContextBudgetExceeded when
    even the pinned parts cannot fit the model."""
    budget = compute_budget(spec.context_window).input_budget
    if planned.agent is not None:
        context = build_call_context(turn, planned.agent, spec, earlier, memory, planned.instruction)
        messages, estimated, before = context.messages, context.estimated_tokens, context.estimated_tokens_before
        history_turns, actions = context.history_turns, context.actions
    else:
        messages = (
            manager_messages(turn, earlier, refused, remaining)
            if planned.kind is StepKind.MANAGER
            else synthesis_messages(turn, earlier, remaining)
        )
        estimated = before = estimate_messages(messages)
        history_turns, actions = 0, []
        if estimated > budget:
            raise ContextBudgetExceeded(
                f"The turn no longer fits the manager's model ({estimated} > {budget} tokens).",
                extra={"required_tokens": estimated, "input_budget": budget},
            )
    speaker = who(turn, planned)
    intent, audit = call_records(
        turn,
        spec,
        CallShape(planned.index, speaker.agent_key, PURPOSE[planned.kind]),
        call_id=call_id,
        now=now,
        budget=budget,
        estimated=(before, estimated),
        history_turns=history_turns,
        actions=actions,
    )
    request = LlmRequest(
        model=spec,
        messages=messages,
        first_call_id=str(call_id),
        response_format=DECISION_FORMAT if planned.kind is StepKind.MANAGER else None,
    )
    return PreparedStep(planned=planned, spec=spec, request=request, intent=intent, audit=audit)


class CallShape(NamedTuple):
    """Whose call it is: its step (None: the turn's summary), its agent, what it is for."""

    step_index: int | None
    agent_key: str | None
    purpose: Purpose


def call_records(
    turn: TurnContext,
    spec: ModelSpec,
    shape: CallShape,
    *,
    call_id: UUID,
    now: datetime,
    budget: int,
    estimated: tuple[int, int],
    history_turns: int,
    actions: list[str],
) -> tuple[CallIntent, ContextAudit]:
    """The intent recorded before a call is sent and the audit row committed with it. `estimated` is
    (before, after) this turn's summary and pruning; the intent carries what is sent."""
    before, after = estimated
    intent = CallIntent(
        call_id=call_id,
        turn_id=turn.turn_id,
        step_index=shape.step_index,
        agent_key=shape.agent_key,
        provider=spec.provider,
        model_alias=spec.alias,
        provider_model=spec.provider_model,
        estimated_input_tokens=after,
        started_at=now,
        purpose=shape.purpose,
    )
    audit = ContextAudit(
        turn_id=turn.turn_id,
        call_id=call_id,
        step_index=shape.step_index,
        model=spec.alias,
        context_window=spec.context_window,
        input_budget=budget,
        estimated_tokens_before=before,
        estimated_tokens_after=after,
        history_turns=history_turns,
        actions=actions,
        created_at=now,
    )
    return intent, audit


def estimate_messages(messages: list[ChatMessage]) -> int:
    return sum(message_tokens(m.content) for m in messages)


def call_worst_case(prepared: PreparedStep, pricing: PricingVersion) -> Decimal:
    """What the wallet reserves before each attempt of this call (invariant 8)."""
    return worst_case(
        pricing, prepared.spec.alias, prepared.intent.estimated_input_tokens, prepared.request.max_output_tokens
    )


def priced_rows(
    turn: TurnContext,
    prepared: PreparedStep,
    result: LlmResult,
    pricing: PricingVersion,
    *,
    row_ids: list[UUID],
    started: dict[str, datetime],
    now: datetime,
) -> list[LedgerEntry]:
    """One priced ledger row per attempt of the call (`row_ids`, one each), each dated when its attempt
    was sent, so that a step's retries list in the order they happened."""
    intent = prepared.intent
    return [
        attempt_entry(
            turn,
            intent.step_index,
            intent.agent_key,
            prepared.spec,
            attempt,
            pricing,
            row_id,
            started.get(attempt.call_id, now),
            intent.purpose,
        )
        for attempt, row_id in zip(result.attempts, row_ids, strict=True)
    ]


def recorded_step(
    turn: TurnContext,
    planned: PlannedStep,
    rows: list[LedgerEntry],
    *,
    content: str,
    error: StepError | None,
    decision: Decision | None = None,
    stopped: bool = False,
) -> TurnStep:
    """The step as it is committed: `stopped` when a `now` stop cut it, else completed unless it
    carries an error."""
    speaker = who(turn, planned)
    status = StepStatus.STOPPED if stopped else StepStatus.FAILED if error is not None else StepStatus.COMPLETED
    return TurnStep(
        index=planned.index,
        kind=planned.kind,
        agent_key=speaker.agent_key,
        agent_name=speaker.agent_name,
        model=speaker.model,
        status=status,
        content=content,
        error=error,
        usage=step_usage(rows),
        decision=decision,
        instruction=planned.instruction,
    )


def answered_step(turn: TurnContext, planned: PlannedStep, result: LlmResult, rows: list[LedgerEntry]) -> TurnStep:
    """An agent's or the synthesis's step from its call: its answer, the part of it a `now` stop let
    through, or the call's error."""
    if result.stopped:
        return recorded_step(turn, planned, rows, content=result.text, error=None, stopped=True)
    return recorded_step(turn, planned, rows, content=result.text if result.ok else "", error=result.error)


def failed_step(
    turn: TurnContext, planned: PlannedStep, code: str, detail: str, extra: dict[str, Any] | None = None
) -> TurnStep:
    """A step that failed before any call: nothing was sent, nothing is billed."""
    return recorded_step(turn, planned, [], content="", error=StepError(code=code, detail=detail, extra=extra))
