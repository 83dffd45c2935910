"""Rooms: create, read, rename, change mode (pending), delete."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from application.paging import check_limit, decode_cursor, page
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.rooms import RoomStore
from domain.errors import NotFound, UnknownModel
from domain.model import Mode, Room
from domain.modes import request_mode
from domain.stopping import room_caps


def check_model(catalog: ModelCatalog, alias: str | None) -> None:
    if alias is not None and catalog.spec(alias) is None:
        raise UnknownModel(f"Unknown model alias {alias!r}; GET /api/v1/models lists the known ones.")


async def require_room(rooms: RoomStore, owner_id: UUID, room_id: UUID) -> Room:
    room = await rooms.room_of(owner_id, room_id)
    if room is None:
        raise NotFound("No such room.")
    return room


class CreateRoom:
    def __init__(self, rooms: RoomStore, catalog: ModelCatalog, clock: Clock, ids: IdGenerator) -> None:
        self._rooms, self._catalog, self._clock, self._ids = rooms, catalog, clock, ids

    async def execute(
        self,
        owner_id: UUID,
        *,
        name: str,
        goal: str | None,
        mode: Mode,
        manager_model: str | None,
        caps: dict[str, object] | None = None,
    ) -> Room:
        """`caps`: max_credits_per_turn (a decimal string), max_agent_calls_per_turn, max_turn_seconds."""
        check_model(self._catalog, manager_model)
        checked = room_caps(caps or {})
        now = self._clock.now()
        room = Room(
            id=self._ids.new_id(),
            owner_id=owner_id,
            name=name,
            goal=goal,
            current_mode=mode,
            pending_mode=None,
            manager_model=manager_model,
            created_at=now,
            updated_at=now,
            **checked,  # type: ignore[arg-type]
        )
        await self._rooms.create_room(room)
        return room


class ListRooms:
    def __init__(self, rooms: RoomStore) -> None:
        self._rooms = rooms

    async def execute(self, owner_id: UUID, *, limit: int, cursor: str | None) -> tuple[list[Room], str | None]:
        after = decode_cursor(cursor, tuple[datetime, UUID])
        rooms = await self._rooms.rooms_of(owner_id, limit=check_limit(limit) + 1, after=after)
        return page(rooms, limit, lambda r: (r.created_at, r.id))


class GetRoom:
    def __init__(self, rooms: RoomStore) -> None:
        self._rooms = rooms

    async def execute(self, owner_id: UUID, room_id: UUID) -> Room:
        return await require_room(self._rooms, owner_id, room_id)


class UpdateRoom:
    """PATCH semantics: fields left UNSET keep their value; `goal`, `manager_model` and the caps per turn
    may be set to null."""

    def __init__(self, rooms: RoomStore, catalog: ModelCatalog, clock: Clock) -> None:
        self._rooms, self._catalog, self._clock = rooms, catalog, clock

    async def execute(self, owner_id: UUID, room_id: UUID, changes: dict[str, object]) -> Room:
        room = await require_room(self._rooms, owner_id, room_id)
        if "manager_model" in changes:
            check_model(self._catalog, changes["manager_model"])  # type: ignore[arg-type]
        changes = room_caps(changes)
        if not changes:
            return room
        room = msgspec.structs.replace(room, **changes, updated_at=self._clock.now())
        await self._rooms.save_room(room)
        return room


class ChangeMode:
    """The mode waits in `pending_mode` until the next turn starts (invariant 7)."""

    def __init__(self, rooms: RoomStore, clock: Clock) -> None:
        self._rooms, self._clock = rooms, clock

    async def execute(self, owner_id: UUID, room_id: UUID, mode: Mode) -> Room:
        def decide(current: Mode, pending: Mode | None) -> Mode | None:
            return request_mode(current, pending, mode)

        room = await self._rooms.change_pending_mode(owner_id, room_id, decide, self._clock.now())
        if room is None:
            raise NotFound("No such room.")
        return room


class DeleteRoom:
    def __init__(self, rooms: RoomStore, clock: Clock) -> None:
        self._rooms, self._clock = rooms, clock

    async def execute(self, owner_id: UUID, room_id: UUID) -> None:
        if not await self._rooms.delete_room(owner_id, room_id, self._clock.now()):
            raise NotFound("No such room.")
