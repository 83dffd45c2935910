"""Reading a turn's events back, from the beginning or after a given one."""

from __future__ import annotations

from uuid import UUID

from application.ports.events import EventPage, TurnEventStore
from application.ports.sessions import SessionStore
from application.ports.turns import TurnStore
from application.use_cases.sessions import require_session
from domain.errors import NotFound

PAGE = 500


class ReadTurnEvents:
    def __init__(self, sessions: SessionStore, turns: TurnStore, events: TurnEventStore) -> None:
        self._sessions, self._turns, self._events = sessions, turns, events

    async def check(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> None:
        """NotFound unless the turn is the user's, in that session, in a live room."""
        await require_session(self._sessions, user_id, session_id)
        turn = await self._turns.turn_of(user_id, turn_id)
        if turn is None or turn.session_id != session_id:
            raise NotFound("No such turn.")

    async def after(self, user_id: UUID, turn_id: UUID, after_seq: int) -> EventPage:
        """The next stored events; NotFound once the turn is gone (its room deleted)."""
        found = await self._events.events_after(user_id, turn_id, after_seq, PAGE)
        if found is None:
            raise NotFound("No such turn.")
        return found
