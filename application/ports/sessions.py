from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

import msgspec

from domain.model import Session


class Message(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    turn_index: int
    role: Literal["user", "assistant"]
    agent_key: str | None
    agent_name: str | None
    content: str
    status: Literal["ok", "error"]
    created_at: datetime


class MessageAt(msgspec.Struct, frozen=True, kw_only=True):
    message: Message
    position: int  # -1 for the user's message, else the step's index: with turn_index, the sort key


class SessionStore(Protocol):
    async def create_session(self, session: Session) -> None: ...

    async def sessions_of_room(
        self, owner_id: UUID, room_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[Session]:
        """Up to `limit` sessions of the owner's room, oldest first (by created_at, then id), after `after`."""
        ...

    async def session_of(self, owner_id: UUID, session_id: UUID) -> Session | None:
        """The owner's session in a live room, or None."""
        ...

    async def messages_of(
        self, owner_id: UUID, session_id: UUID, *, limit: int, after: tuple[int, int] | None
    ) -> list[MessageAt]:
        """Up to `limit` messages of the conversation in order (each turn's user message, position -1,
        then its steps by index), after the (turn_index, position) `after`."""
        ...
