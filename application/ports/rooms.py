from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.model import Mode, Room


class RoomStore(Protocol):
    async def create_room(self, room: Room) -> None: ...

    async def rooms_of(self, owner_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None) -> list[Room]:
        """Up to `limit` live rooms of the owner, newest first (by created_at, then id), older than `after`."""
        ...

    async def room_of(self, owner_id: UUID, room_id: UUID) -> Room | None:
        """The owner's live room, or None (missing, deleted, or someone else's)."""
        ...

    async def save_room(self, room: Room) -> None:
        """Persist name, goal, manager_model and updated_at of a live room (never its modes)."""
        ...

    async def change_pending_mode(
        self, owner_id: UUID, room_id: UUID, decide: Callable[[Mode, Mode | None], Mode | None], at: datetime
    ) -> Room | None:
        """Set pending_mode to `decide(current_mode, pending_mode)` under the room row's lock, so that a
        concurrent turn start (which applies and clears it) is never overwritten. None if no such room."""
        ...

    async def delete_room(self, owner_id: UUID, room_id: UUID, at: datetime) -> bool:
        """Soft-delete; False when there was no such live room."""
        ...
