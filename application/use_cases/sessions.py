"""Sessions of a room and their conversation."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.paging import check_limit, decode_cursor, page
from application.ports.clock import Clock, IdGenerator
from application.ports.rooms import RoomStore
from application.ports.sessions import Message, SessionStore
from application.use_cases.rooms import require_room
from domain.errors import NotFound
from domain.model import Session


async def require_session(sessions: SessionStore, owner_id: UUID, session_id: UUID) -> Session:
    session = await sessions.session_of(owner_id, session_id)
    if session is None:
        raise NotFound("No such session.")
    return session


class OpenSession:
    def __init__(self, rooms: RoomStore, sessions: SessionStore, clock: Clock, ids: IdGenerator) -> None:
        self._rooms, self._sessions, self._clock, self._ids = rooms, sessions, clock, ids

    async def execute(self, owner_id: UUID, room_id: UUID) -> Session:
        await require_room(self._rooms, owner_id, room_id)
        session = Session(
            id=self._ids.new_id(), room_id=room_id, user_id=owner_id, created_at=self._clock.now(), turn_count=0
        )
        await self._sessions.create_session(session)
        return session


class ListSessions:
    def __init__(self, rooms: RoomStore, sessions: SessionStore) -> None:
        self._rooms, self._sessions = rooms, sessions

    async def execute(
        self, owner_id: UUID, room_id: UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[Session], str | None]:
        after = decode_cursor(cursor, tuple[datetime, UUID])
        await require_room(self._rooms, owner_id, room_id)
        found = await self._sessions.sessions_of_room(owner_id, room_id, limit=check_limit(limit) + 1, after=after)
        return page(found, limit, lambda s: (s.created_at, s.id))


class GetSession:
    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, owner_id: UUID, session_id: UUID) -> Session:
        return await require_session(self._sessions, owner_id, session_id)


class ListMessages:
    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(
        self, owner_id: UUID, session_id: UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[Message], str | None]:
        after = decode_cursor(cursor, tuple[int, int])
        await require_session(self._sessions, owner_id, session_id)
        found = await self._sessions.messages_of(owner_id, session_id, limit=check_limit(limit) + 1, after=after)
        kept, next_cursor = page(found, limit, lambda m: (m.message.turn_index, m.position))
        return [m.message for m in kept], next_cursor
