"""Turn events: the replayable stream of what happened in a turn (docs/http-api.md, "Streaming")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

import msgspec

EventType = Literal["turn_started", "step_started", "step_delta", "step_completed", "turn_completed", "turn_failed"]
TERMINAL = frozenset({"turn_completed", "turn_failed"})


class TurnEvent(msgspec.Struct, frozen=True, kw_only=True):
    seq: int  # 1, 2, 3 … per turn, gapless
    type: EventType
    data: dict[str, Any]  # the SSE `data:` object; always holds turn_id and seq


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    events: list[TurnEvent]
    running: bool  # False once the turn has finished: no event will follow the last stored one


class TurnEventStore(Protocol):
    async def append_events(self, turn_id: UUID, events: list[TurnEvent], at: datetime) -> None: ...

    async def next_seq(self, turn_id: UUID) -> int:
        """The seq the next event of this turn gets (1 for a turn without events)."""
        ...

    async def events_after(self, user_id: UUID, turn_id: UUID, after_seq: int, limit: int) -> EventPage | None:
        """The owner's events with seq > after_seq in order, and whether the turn still runs; None when the
        turn is not the user's, or its room was deleted."""
        ...
