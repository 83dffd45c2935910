"""Reading turns back."""

from __future__ import annotations

from uuid import UUID

from application.paging import check_limit, decode_cursor, page
from application.ports.sessions import SessionStore
from application.ports.turns import TurnStore
from application.use_cases.sessions import require_session
from domain.errors import NotFound
from domain.turns import Turn


class ListTurns:
    def __init__(self, sessions: SessionStore, turns: TurnStore) -> None:
        self._sessions, self._turns = sessions, turns

    async def execute(
        self, user_id: UUID, session_id: UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[Turn], str | None]:
        after = decode_cursor(cursor, int)
        await require_session(self._sessions, user_id, session_id)
        found = await self._turns.turns_of(user_id, session_id, limit=check_limit(limit) + 1, after=after)
        return page(found, limit, lambda t: t.turn_index)


class GetTurn:
    def __init__(self, sessions: SessionStore, turns: TurnStore) -> None:
        self._sessions, self._turns = sessions, turns

    async def execute(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> Turn:
        await require_session(self._sessions, user_id, session_id)
        turn = await self._turns.turn_of(user_id, turn_id)
        if turn is None or turn.session_id != session_id:
            raise NotFound("No such turn.")
        return turn
