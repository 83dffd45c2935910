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


class SessionStore(Protocol):
    async def create_session(self, session: Session) -> None: ...

    async def sessions_of_room(self, owner_id: UUID, room_id: UUID) -> list[Session]: ...

    async def session_of(self, owner_id: UUID, session_id: UUID) -> Session | None:
        """The owner's session in a live room, or None."""
        ...

    async def messages_of(self, owner_id: UUID, session_id: UUID) -> list[Message]:
        """The conversation in order: each turn's user message, then its steps."""
        ...
