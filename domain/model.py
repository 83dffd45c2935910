"""Core values of Pantheon: users, rooms, agents, sessions and the model catalog."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

import msgspec


class Mode(enum.StrEnum):
    MANUAL = "manual"
    ROUNDTABLE = "roundtable"
    ORCHESTRATOR = "orchestrator"


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    display_name: str | None
    created_at: datetime
    role: Literal["user", "admin"] = "user"
    suspended: bool = False  # a suspended user's key is refused everywhere (403); running turns finish


class Room(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    owner_id: UUID
    name: str
    goal: str | None
    current_mode: Mode
    pending_mode: Mode | None
    manager_model: str | None
    created_at: datetime
    updated_at: datetime
    # Caps per turn (domain/stopping.py): reaching one stops the turn; None, no cap.
    max_credits_per_turn: Decimal | None = None
    max_agent_calls_per_turn: int | None = None
    max_turn_seconds: int | None = None


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    room_id: UUID
    agent_key: str
    name: str
    model: str
    role_prompt: str
    position: int
    created_at: datetime


class Session(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    room_id: UUID
    user_id: UUID
    created_at: datetime
    turn_count: int


class ModelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A model alias as the catalog knows it (provider wiring, not price)."""

    alias: str
    provider: str
    provider_model: str
    context_window: int
    available: bool = True
