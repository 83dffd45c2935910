"""Values describing a turn: the roster snapshot, its planned steps, its outcome."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec

from domain.decisions import Decision, Orchestration
from domain.model import Mode


class StepKind(enum.StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    SYNTHESIS = "synthesis"


class StepStatus(enum.StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"  # cut by a `now` stop: its content is the partial text


class TurnStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    STOPPED = "stopped"  # a stop request or a cap per turn ended it (its `stop_reason` says which)


class RosterEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One agent as it was when the turn started (roster snapshot, invariant 7)."""

    agent_key: str
    name: str
    model: str
    role_prompt: str
    position: int


class PlannedStep(msgspec.Struct, frozen=True, kw_only=True):
    """A step about to run: an agent's (with the manager's instruction in orchestrator mode), or the
    manager's own (a decision, then the synthesis), which has no agent."""

    index: int
    kind: StepKind
    agent: RosterEntry | None = None
    instruction: str | None = None


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens of one call. `input_tokens` counts all prompt tokens, `cached_input_tokens` the cached part."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0

    @property
    def fresh_input_tokens(self) -> int:
        return self.input_tokens - self.cached_input_tokens


class StepError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    detail: str
    extra: dict[str, Any] | None = None  # figures, when the code has some (context_budget_exceeded)


class StepUsage(msgspec.Struct, frozen=True, kw_only=True):
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    credits: Decimal = Decimal("0.0000")


class TurnStep(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    index: int
    kind: StepKind
    agent_key: str | None
    agent_name: str | None
    model: str
    status: StepStatus
    content: str
    error: StepError | None
    usage: StepUsage
    decision: Decision | None = None  # a manager step's
    instruction: str | None = None  # what the manager asked of an agent step


class TurnUsage(msgspec.Struct, frozen=True, kw_only=True):
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    credits: Decimal = Decimal("0.0000")


class Turn(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: UUID
    session_id: UUID
    turn_index: int
    mode: Mode
    status: TurnStatus
    user_message: str
    steps: list[TurnStep]
    usage: TurnUsage
    created_at: datetime
    completed_at: datetime | None
    # Why a `stopped` turn stopped (domain/stopping.py StopReason); no default, so it shows as null.
    stop_reason: str | None
    orchestration: Orchestration | None = None  # orchestrator turns only
