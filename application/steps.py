"""A step of a turn, prepared before its call and recorded after it by pure functions: what the
model is sent, the intent committed before each attempt, the context audit, and then the step and
its priced ledger rows. The executor around them (use_cases/execute_step.py) only does the I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

from application.context import build_call_context
from application.events import EventLog
from application.ledger import attempt_entry, step_usage
from application.ports.llm import LlmRequest, LlmResult
from application.ports.turns import CallIntent, ContextAudit, HistoryTurn, LedgerEntry, TurnContext
from domain.model import ModelSpec
from domain.pricing import PricingVersion
from domain.turns import PlannedStep, StepError, StepStatus, StepUsage, TurnStep

HISTORY_TURNS = 20  # never read more: the cost of a turn must not grow with the session's length


@dataclass
class TurnRun:
    """What one run of a turn carries from step to step, passed explicitly (never built by the container)."""

    context: TurnContext
    events: EventLog
    resuming: bool = False  # steps committed before a crash are read back, never called again
    on_pause: Callable[[], None] | None = None  # told when the turn starts waiting for the database
    attempts: int = 0  # ledger rows this run wrote


class PreparedStep(msgspec.Struct, frozen=True, kw_only=True):
    planned: PlannedStep
    spec: ModelSpec
    request: LlmRequest
    intent: CallIntent  # the first attempt's; later attempts copy it with their own call_id
    audit: ContextAudit | None  # the turn's one audit row, from its first step


def prepare_step(
    turn: TurnContext,
    planned: PlannedStep,
    earlier: list[TurnStep],
    history: list[HistoryTurn],
    spec: ModelSpec,
    *,
    call_id: UUID,
    now: datetime,
) -> PreparedStep:
    """What to send for this step. Raises ContextBudgetExceeded when even the pinned parts cannot fit."""
    context = build_call_context(turn, planned.agent, spec, earlier, history)
    audit = None
    if not earlier:
        audit = ContextAudit(
            turn_id=turn.turn_id,
            input_budget=context.input_budget,
            estimated_tokens=context.estimated_tokens,
            history_turns=context.history_turns,
            actions=["history_truncated"] if context.history_truncated else [],
            created_at=now,
        )
    intent = CallIntent(
        call_id=call_id,
        turn_id=turn.turn_id,
        step_index=planned.index,
        agent_key=planned.agent.agent_key,
        provider=spec.provider,
        model_alias=spec.alias,
        provider_model=spec.provider_model,
        estimated_input_tokens=context.estimated_tokens,
        started_at=now,
    )
    request = LlmRequest(model=spec, messages=context.messages, first_call_id=str(call_id))
    return PreparedStep(planned=planned, spec=spec, request=request, intent=intent, audit=audit)


def answered_step(
    turn: TurnContext,
    prepared: PreparedStep,
    result: LlmResult,
    pricing: PricingVersion,
    *,
    row_ids: list[UUID],
    started: dict[str, datetime],
    now: datetime,
) -> tuple[TurnStep, list[LedgerEntry]]:
    """The step the call produced and one priced ledger row per attempt (`row_ids`, one each), each row
    dated when its attempt was sent, so that a step's retries list in the order they happened."""
    planned, agent = prepared.planned, prepared.planned.agent
    entries = [
        attempt_entry(
            turn,
            planned.index,
            agent.agent_key,
            prepared.spec,
            attempt,
            pricing,
            row_id,
            started.get(attempt.call_id, now),
        )
        for attempt, row_id in zip(result.attempts, row_ids, strict=True)
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
    return step, entries


def failed_step(planned: PlannedStep, code: str, detail: str) -> TurnStep:
    """A step that failed before any call: nothing was sent, nothing is billed."""
    return TurnStep(
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
