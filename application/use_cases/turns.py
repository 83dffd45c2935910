"""Reading turns back."""

from __future__ import annotations

from uuid import UUID

from application.paging import check_limit, decode_cursor, encode_cursor, page
from application.ports.sessions import SessionStore
from application.ports.turns import TurnStore
from application.use_cases.sessions import require_session
from domain.errors import NotFound
from domain.turns import Turn


class ListTurns:
    def __init__(self, sessions: SessionStore, turns: TurnStore) -> None:
        self._sessions, self._turns = sessions, turns

    async def execute(
        self, user_id: UUID, session_id: UUID, *, limit: int, cursor: str | None, newest_first: bool = False
    ) -> tuple[list[Turn], str | None]:
        """A page of the session's turns, oldest first; or newest first, each page going further back."""
        mark = decode_cursor(cursor, int)
        session = await require_session(self._sessions, user_id, session_id)
        if not newest_first:
            found = await self._turns.turns_of(user_id, session_id, limit=check_limit(limit) + 1, after=mark)
            return page(found, limit, lambda t: t.turn_index)
        # Turn indices are gapless (invariant 2), so the `limit` turns before index `before` are exactly
        # before-limit … before-1: one ascending range read, reversed. The cursor is the page's lowest index.
        before = session.turn_count if mark is None else min(mark, session.turn_count)
        start = max(0, before - check_limit(limit))
        if before <= 0:
            return [], None
        found = await self._turns.turns_of(user_id, session_id, limit=before - start, after=start - 1)
        return found[::-1], encode_cursor(start) if start > 0 else None


class GetTurn:
    def __init__(self, sessions: SessionStore, turns: TurnStore) -> None:
        self._sessions, self._turns = sessions, turns

    async def execute(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> Turn:
        await require_session(self._sessions, user_id, session_id)
        turn = await self._turns.turn_of(user_id, turn_id)
        if turn is None or turn.session_id != session_id:
            raise NotFound("No such turn.")
        return turn
