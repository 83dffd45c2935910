"""Request and response bodies of the public HTTP contract (docs/http-api.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from application.ports.sessions import Message
from application.ports.turns import ContextAudit, LedgerEntry
from application.ports.usage import UsageTotals
from application.use_cases.catalog import ModelListing
from domain.memory import Summary
from domain.model import Agent, Mode, Room, Session, User
from domain.pricing import PricingVersion
from domain.stopping import StopMode
from domain.turns import Turn
from domain.wallet import Credits

# Patterns are matched whole: `(?!\n)$` ends the match at the true end in both Python's `re` (where `$`
# alone also matches before a trailing newline) and the ECMA-262 regexes of JSON Schema readers.
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"\S")]
Goal = Annotated[str, Meta(max_length=2000)]
RolePrompt = Annotated[str, Meta(max_length=20_000)]
Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+(?!\n)$")]
Alias = Annotated[str, Meta(min_length=1, max_length=200)]
AgentKey = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}(?!\n)$")]
Position = Annotated[int, Meta(ge=0, le=10_000)]
# Caps per turn (domain/stopping.py checks the credit cap's value: above 0, at most 4 places).
CreditCap = Annotated[str, Meta(max_length=40, pattern=r"^[0-9]+(\.[0-9]+)?(?!\n)$", examples=["0.5000"])]
CallCap = Annotated[int, Meta(ge=1, le=1000)]
SecondsCap = Annotated[int, Meta(ge=1, le=86_400)]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class CreateUserBody(Body):
    email: Email
    display_name: Name | None = None


class CreateRoomBody(Body):
    name: Name
    goal: Goal | None = None
    mode: Mode = Mode.MANUAL
    manager_model: Alias | None = None
    max_credits_per_turn: CreditCap | None = None
    max_agent_calls_per_turn: CallCap | None = None
    max_turn_seconds: SecondsCap | None = None

    def caps(self) -> dict[str, object]:
        return {
            "max_credits_per_turn": self.max_credits_per_turn,
            "max_agent_calls_per_turn": self.max_agent_calls_per_turn,
            "max_turn_seconds": self.max_turn_seconds,
        }


class PatchRoomBody(Body):
    name: Name | UnsetType = UNSET
    goal: Goal | UnsetType | None = UNSET
    manager_model: Alias | UnsetType | None = UNSET
    max_credits_per_turn: CreditCap | UnsetType | None = UNSET
    max_agent_calls_per_turn: CallCap | UnsetType | None = UNSET
    max_turn_seconds: SecondsCap | UnsetType | None = UNSET


class ModeBody(Body):
    mode: Mode


class CreateAgentBody(Body):
    agent_key: AgentKey
    name: Name
    model: Alias
    role_prompt: RolePrompt
    position: Position | None = None


class PatchAgentBody(Body):
    name: Name | UnsetType = UNSET
    model: Alias | UnsetType = UNSET
    role_prompt: RolePrompt | UnsetType = UNSET
    position: Position | UnsetType = UNSET


class CreateSessionBody(Body):
    pass


def changes_of(body: msgspec.Struct) -> dict[str, object]:
    """The fields a PATCH body actually sets (UNSET ones are left out)."""
    return {f: v for f in body.__struct_fields__ if (v := getattr(body, f)) is not UNSET}


class CreditsOut(msgspec.Struct, kw_only=True):
    balance: Decimal
    reserved: Decimal
    available: Decimal
    monthly_cap: Decimal | None
    spent_this_month: Decimal

    @classmethod
    def of(cls, credits: Credits) -> CreditsOut:
        return cls(
            balance=credits.balance,
            reserved=credits.reserved,
            available=credits.available,
            monthly_cap=credits.monthly_cap,
            spent_this_month=credits.spent_this_month,
        )


class UserOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: UUID
    email: str
    display_name: str | None
    created_at: datetime
    credits: CreditsOut | None = None  # shown by GET /me

    @classmethod
    def of(cls, user: User, credits: Credits | None = None) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            created_at=user.created_at,
            credits=CreditsOut.of(credits) if credits is not None else None,
        )


class UserCreated(msgspec.Struct, kw_only=True):
    user: UserOut
    api_key: str


class RoomOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    goal: str | None
    current_mode: Mode
    pending_mode: Mode | None
    manager_model: str | None
    created_at: datetime
    updated_at: datetime
    max_credits_per_turn: Decimal | None
    max_agent_calls_per_turn: int | None
    max_turn_seconds: int | None

    @classmethod
    def of(cls, room: Room) -> RoomOut:
        return cls(
            id=room.id,
            name=room.name,
            goal=room.goal,
            current_mode=room.current_mode,
            pending_mode=room.pending_mode,
            manager_model=room.manager_model,
            created_at=room.created_at,
            updated_at=room.updated_at,
            max_credits_per_turn=room.max_credits_per_turn,
            max_agent_calls_per_turn=room.max_agent_calls_per_turn,
            max_turn_seconds=room.max_turn_seconds,
        )


class RoomList(msgspec.Struct):
    items: list[RoomOut]
    next_cursor: str | None


class AgentOut(msgspec.Struct, kw_only=True):
    id: UUID
    agent_key: str
    name: str
    model: str
    role_prompt: str
    position: int
    created_at: datetime

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(
            id=agent.id,
            agent_key=agent.agent_key,
            name=agent.name,
            model=agent.model,
            role_prompt=agent.role_prompt,
            position=agent.position,
            created_at=agent.created_at,
        )


class AgentList(msgspec.Struct):
    items: list[AgentOut]


class SessionOut(msgspec.Struct, kw_only=True):
    id: UUID
    room_id: UUID
    created_at: datetime
    turn_count: int

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(id=session.id, room_id=session.room_id, created_at=session.created_at, turn_count=session.turn_count)


class SessionList(msgspec.Struct):
    items: list[SessionOut]
    next_cursor: str | None


class MessageList(msgspec.Struct):
    items: list[Message]
    next_cursor: str | None


class ModelList(msgspec.Struct):
    items: list[ModelListing]


class ModelPriceOut(msgspec.Struct, kw_only=True):
    alias: str
    multiplier: Decimal
    input_usd_per_mtok: Decimal
    cached_input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal


class PricingVersionOut(msgspec.Struct, kw_only=True):
    version: str
    effective_from: datetime
    fresh_input_weight: Decimal
    cached_input_weight: Decimal
    output_weight: Decimal
    oe_tokens_per_credit: Decimal
    multiplier_floor: Decimal
    default_multiplier: Decimal
    models: list[ModelPriceOut]

    @classmethod
    def of(cls, v: PricingVersion) -> PricingVersionOut:
        models = [
            ModelPriceOut(
                alias=m.alias,
                multiplier=m.multiplier,
                input_usd_per_mtok=m.input_usd_per_mtok,
                cached_input_usd_per_mtok=m.cached_input_usd_per_mtok,
                output_usd_per_mtok=m.output_usd_per_mtok,
            )
            for m in sorted(v.models.values(), key=lambda m: m.alias)
        ]
        return cls(
            version=v.version,
            effective_from=v.effective_from,
            fresh_input_weight=v.fresh_input_weight,
            cached_input_weight=v.cached_input_weight,
            output_weight=v.output_weight,
            oe_tokens_per_credit=v.oe_tokens_per_credit,
            multiplier_floor=v.multiplier_floor,
            default_multiplier=v.default_multiplier,
            models=models,
        )


class PricingList(msgspec.Struct):
    active_version: str
    items: list[PricingVersionOut]


class PoolFigures(msgspec.Struct, kw_only=True):
    size: int
    max: int
    available: int
    waiting: int
    checkouts: int  # connections handed out since the process started


class Health(msgspec.Struct, kw_only=True):
    status: str
    pool: PoolFigures


class StopBody(Body):
    mode: StopMode


class SendMessageBody(Body):
    message: Annotated[str, Meta(min_length=1, max_length=50_000)]


class TurnList(msgspec.Struct):
    items: list[Turn]
    next_cursor: str | None


class UsageEvents(msgspec.Struct):
    items: list[LedgerEntry]
    next_cursor: str | None


class UsageSummaryOut(msgspec.Struct):
    items: list[UsageTotals]


class SummaryOut(msgspec.Struct, kw_only=True):
    session_id: UUID
    through_turn_index: int
    summary_text: str
    key_facts: list[str]
    decisions: list[str]
    open_questions: list[str]
    action_items: list[str]
    created_at: datetime
    turn_id: UUID | None  # the turn that wrote (and paid for) it

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        return cls(
            session_id=summary.session_id,
            through_turn_index=summary.through_turn_index,
            summary_text=summary.summary_text,
            key_facts=summary.key_facts,
            decisions=summary.decisions,
            open_questions=summary.open_questions,
            action_items=summary.action_items,
            created_at=summary.created_at,
            turn_id=summary.turn_id,
        )


class ContextAuditList(msgspec.Struct):
    items: list[ContextAudit]
