"""Ports of the turn engine: storing turns, recording paid steps, running the steps in order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol
from uuid import UUID

import msgspec

from application.ports.events import TurnEvent
from application.ports.llm import LlmAttempt
from application.ports.wallet import TurnGate
from domain.memory import Summary
from domain.model import Mode
from domain.stopping import TurnCaps
from domain.turns import PlannedStep, RosterEntry, StepError, Turn, TurnStatus, TurnStep

LedgerStatus = Literal["success", "error", "timeout", "rate_limited", "cancelled"]
Purpose = Literal["agent", "manager", "synthesis", "summary"]  # what a ledger row's call was for


class HistoryTurn(msgspec.Struct, frozen=True, kw_only=True):
    """An earlier turn of the session as later agents see it."""

    turn_index: int
    user_message: str
    answers: list[tuple[str, str]]  # (agent name, content) of completed agent and synthesis steps


class TurnStart(msgspec.Struct, frozen=True, kw_only=True):
    """A session and its room as a new turn finds them: what the turn's start is decided on."""

    room_id: UUID
    next_index: int  # the turn_index the new turn takes (the session's turn count)
    busy: bool  # a turn of the session is still running
    current_mode: Mode
    pending_mode: Mode | None
    room_goal: str | None
    manager_model: str | None  # the room's manager alias (None: the configured default)
    roster: list[RosterEntry]  # ordered by position, then key
    summary: Summary | None = None  # the session's newest summary: pinned in every agent's context
    caps: TurnCaps = TurnCaps()  # the room's caps per turn


class TurnContext(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a running turn needs, snapshotted at its start (invariant 7)."""

    turn_id: UUID
    user_id: UUID
    room_id: UUID
    session_id: UUID
    turn_index: int
    mode: Mode
    user_message: str
    room_goal: str | None
    roster: list[RosterEntry]
    plan: list[PlannedStep]
    pricing_version: str
    created_at: datetime
    manager_model: str | None = None  # the alias an orchestrator turn's manager uses
    # The first call's worst case, held in the wallet when the turn was allocated (None: no hold, e.g.
    # wallets off, or a turn read back for resuming). Not stored: a resumed turn reserves afresh.
    opening_hold: Decimal | None = None
    caps: TurnCaps = TurnCaps()  # the room's caps per turn when the turn started


class IdempotentTurn(msgspec.Struct, frozen=True, kw_only=True):
    turn_id: UUID
    session_id: UUID
    request_hash: str
    status: TurnStatus


class StaleTurn(msgspec.Struct, frozen=True, kw_only=True):
    turn_id: UUID
    created_at: datetime
    heartbeat_at: datetime


class CallIntent(msgspec.Struct, frozen=True, kw_only=True):
    """Recorded (committed) before a provider is called, so a crash mid-call leaves a trace."""

    call_id: UUID
    turn_id: UUID
    step_index: int | None  # None: the turn's summary call, which belongs to no step
    agent_key: str | None
    provider: str
    model_alias: str
    provider_model: str
    estimated_input_tokens: int
    started_at: datetime
    outcome: LlmAttempt | None = None  # known once the attempt finished (failed attempts only)
    purpose: Purpose = "agent"


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the usage ledger: one call attempt that reached a provider."""

    id: UUID
    call_id: UUID
    user_id: UUID
    room_id: UUID | None
    session_id: UUID | None
    turn_id: UUID | None
    step_index: int | None
    agent_key: str | None
    provider: str
    model_alias: str
    provider_model: str
    input_tokens_fresh: int
    input_tokens_cached: int
    output_tokens: int
    total_tokens: int
    oe_tokens: Decimal
    multiplier: Decimal
    credits_burned: Decimal
    provider_cost_usd: Decimal
    latency_ms: int
    status: LedgerStatus
    pricing_version: str
    request_id: str | None
    created_at: datetime
    usage_estimated: bool = False
    error_code: str | None = None
    purpose: Purpose = "agent"


class ContextAudit(msgspec.Struct, frozen=True, kw_only=True):
    """Why one call saw what it saw: its model's window and input budget, the estimate of its prompt
    before and after this turn's summary and pruning, how many raw turns it kept, what fired."""

    turn_id: UUID
    call_id: UUID
    step_index: int | None  # None: the turn's summary call
    model: str
    context_window: int
    input_budget: int
    estimated_tokens_before: int
    estimated_tokens_after: int
    history_turns: int
    actions: list[str]  # "summarized", "pruned", "history_truncated"
    created_at: datetime


class TurnStore(Protocol):
    async def idempotent_turn(self, user_id: UUID, key: str) -> IdempotentTurn | None: ...

    async def turn_start(self, user_id: UUID, session_id: UUID) -> TurnStart | None:
        """The user's session in a live room as it is now; None when there is no such session."""
        ...

    async def allocate(
        self,
        turn: TurnContext,
        *,
        applied_pending: Mode | None,
        idempotency_key: str | None,
        request_hash: str,
        gate: TurnGate | None = None,
    ) -> None:
        """Insert `turn` as the session's running turn, atomically: its turn_index is taken by
        compare-and-set on the session's turn count (gapless, invariant 2), and the room records the
        mode the turn runs in, its pending mode cleared only if it is still `applied_pending` (a mode
        requested since the start was read waits for the next turn). TurnInProgress when another turn
        took the index or is running; IdempotencyConflict when the user already used the key.
        With a `gate`, in the same transaction and under the user's wallet lock (so across processes):
        RateLimited when the user already runs `max_running` turns, InsufficientCredits when the
        opening hold cannot be reserved; either way nothing is written."""
        ...

    async def context_of(self, turn_id: UUID) -> TurnContext | None: ...

    async def finish_turn(
        self,
        turn_id: UUID,
        status: TurnStatus,
        at: datetime,
        error: StepError | None,
        events: list[TurnEvent] | None = None,
        stop_reason: str | None = None,
    ) -> bool:
        """Mark the running turn finished (with why it stopped, for a `stopped` one) and append its last
        events; False (nothing written) if it was not running, or if a stop was stored on it that this
        call does not account for (`stop_reason` None, and the status is not `failed`)."""
        ...

    async def turn_of(self, user_id: UUID, turn_id: UUID) -> Turn | None: ...

    async def turns_of(self, user_id: UUID, session_id: UUID, *, limit: int, after: int | None) -> list[Turn]:
        """Up to `limit` turns of the session by turn_index, those after the index `after`."""
        ...

    async def stale_turns(self, heartbeat_before: datetime) -> list[StaleTurn]: ...

    async def claim_turn(self, turn_id: UUID, seen_heartbeat: datetime, now: datetime) -> bool:
        """Take over a stale turn; False when another process claimed it first."""
        ...

    async def heartbeat(self, turn_ids: list[UUID], now: datetime) -> None: ...


class HistoryStore(Protocol):
    async def recent(
        self, session_id: UUID, *, before_index: int, limit: int, after_index: int = -1
    ) -> list[HistoryTurn]:
        """Up to `limit` finished turns of the session with after_index < turn_index < before_index,
        newest first: what agents of turn `before_index` see of the conversation."""
        ...


class StepRecorder(Protocol):
    async def committed_step(self, turn_id: UUID, step_index: int) -> TurnStep | None: ...

    async def record_intent(self, intent: CallIntent) -> None:
        """Committed before the attempt is sent; recording the same call_id again is a no-op."""
        ...

    async def settle_intent(self, call_id: UUID, outcome: LlmAttempt) -> None:
        """Keep a finished (failed) attempt's outcome until its step commits."""
        ...

    async def commit_step(
        self,
        turn_id: UUID,
        step: TurnStep,
        ledger: list[LedgerEntry],
        at: datetime,
        audits: list[ContextAudit] | None = None,
        events: list[TurnEvent] | None = None,
    ) -> bool:
        """In one transaction: the step row, its ledger rows, the context audit of each of its calls, the
        turn's pending events, and the removal of its intents. False (nothing written) when the step was
        already committed."""
        ...

    async def commit_summary(
        self, turn_id: UUID, summary: Summary | None, ledger: list[LedgerEntry], audits: list[ContextAudit]
    ) -> bool:
        """In one transaction: the summary the turn wrote (None: its summary call failed), the ledger
        rows of its summary call, their context audit, and the removal of their intents. False (nothing
        written) when the turn already wrote its summary."""
        ...

    async def open_intents(self, turn_id: UUID) -> list[CallIntent]: ...

    async def cancel_intents(self, turn_id: UUID, ledger: list[LedgerEntry]) -> None:
        """Turn leftover intents into ledger rows (`cancelled`, or their settled outcome), in one transaction."""
        ...


# A step's executor gives the committed step, or None when the step was not started (the credit cap
# refused its call): then the program is asked again, and it knows why.
StepExecutor = Callable[[TurnContext, PlannedStep, list[TurnStep]], Awaitable[TurnStep | None]]
# The turn's program: given the steps so far, the step that comes next (None: the turn is done).
NextStep = Callable[[TurnContext, list[TurnStep]], PlannedStep | None]


class TurnRunner(Protocol):
    async def run(self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep) -> list[TurnStep]:
        """Run the steps `next_step` gives, one after another, each seeing the steps before it (a step
        the executor did not start adds nothing)."""
        ...

    async def resume(self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep) -> list[TurnStep]:
        """Continue an interrupted turn from its checkpoint (from the start if there is none)."""
        ...

    async def forget_finished(self) -> int:
        """Drop what the runner kept (checkpoints) for turns that are over; how many it dropped."""
        ...
