"""In-process fake of the ConversationStore, on the same MemoryDatabase as the other fakes."""

from __future__ import annotations

from uuid import UUID

from adapters.memory.stores import MemoryDatabase

MAX_FOUND = 10


class MemoryConversationStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def sessions_holding(self, owner_id: UUID, room_id: UUID, user_messages: list[str]) -> list[UUID]:
        if not user_messages or self._db.live_room(owner_id, room_id) is None:
            return []
        found = []
        for session in self._db.sessions.values():
            if session.room_id != room_id or session.user_id != owner_id:
                continue
            turns = sorted(
                (r.context for r in self._db.turns.values() if r.context.session_id == session.id),
                key=lambda c: c.turn_index,
            )
            if [c.user_message for c in turns] == user_messages:
                found.append(session)
        found.sort(key=lambda s: (s.created_at, s.id), reverse=True)
        return [s.id for s in found[:MAX_FOUND]]

    async def discard_unused_session(self, owner_id: UUID, session_id: UUID) -> None:
        session = self._db.sessions.get(session_id)
        if session is None or session.user_id != owner_id:
            return
        if not any(r.context.session_id == session_id for r in self._db.turns.values()):
            del self._db.sessions[session_id]
