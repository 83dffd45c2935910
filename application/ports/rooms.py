from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.model import Room


class RoomStore(Protocol):
    async def create_room(self, room: Room) -> None: ...

    async def rooms_of(self, owner_id: UUID) -> list[Room]:
        """Live rooms of the owner, newest first."""
        ...

    async def room_of(self, owner_id: UUID, room_id: UUID) -> Room | None:
        """The owner's live room, or None (missing, deleted, or someone else's)."""
        ...

    async def save_room(self, room: Room) -> None:
        """Persist name, goal, manager_model, pending_mode and updated_at of a live room."""
        ...

    async def delete_room(self, owner_id: UUID, room_id: UUID, at: datetime) -> bool:
        """Soft-delete; False when there was no such live room."""
        ...
