"""A turn asked for by a client that resends the whole conversation each time and keeps no session of
its own (the OpenAI-compatible entrypoint): which session it continues, then the same turn start as
POST …/turns (application/use_cases/send_message.py).

The session is recognised by what Pantheon stored, never by trusting the client's copy:
- the `X-Pantheon-Session` a client names (it must be the caller's, in this room);
- else the session of a turn started with the same Idempotency-Key (a retried request);
- else the session whose turns carry exactly the user messages the client says were answered
  before, and no other turn; when several do, the one whose last answer is the client's copy of it;
- else a new session. So a new conversation starts one, and so does a conversation whose earlier
  user message was edited (or whose last answer is regenerated): the new session's agents see only
  what was said in it, not the client's copy of the rest.
A session opened for a message that is then refused (say 422 no_valid_tag) is removed again.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from application.ports.clock import Clock, IdGenerator
from application.ports.conversations import ConversationStore
from application.ports.rooms import RoomStore
from application.ports.sessions import SessionStore
from application.ports.turns import TurnStore
from application.use_cases.rooms import require_room
from application.use_cases.send_message import SendMessage, StartedTurn
from application.use_cases.sessions import require_session
from domain.errors import DomainError, IdempotencyConflict, NotFound
from domain.model import Session
from domain.transcript import same_text, transcript


class Exchange(msgspec.Struct, frozen=True, kw_only=True):
    """An earlier user message of the conversation and the client's copy of the answer it got."""

    user: str
    assistant: str


class ConversationTurn(msgspec.Struct, frozen=True, kw_only=True):
    session_id: UUID
    started: StartedTurn


class StartConversationTurn:
    def __init__(
        self,
        rooms: RoomStore,
        sessions: SessionStore,
        conversations: ConversationStore,
        turns: TurnStore,
        send_message: SendMessage,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._rooms, self._sessions, self._conversations, self._turns = rooms, sessions, conversations, turns
        self._send, self._clock, self._ids = send_message, clock, ids

    async def execute(
        self,
        owner_id: UUID,
        room_id: UUID,
        *,
        earlier: list[Exchange],
        message: str,
        session_id: UUID | None = None,
        idempotency_key: str | None = None,
    ) -> ConversationTurn:
        # Each way of finding a session reads it in the owner's live room: only a new one needs the room read.
        found = await self._named(owner_id, room_id, session_id, idempotency_key)
        at_index = None
        if found is None and earlier:
            found = await self._continued(owner_id, room_id, earlier)
            at_index = len(earlier) if found else None  # the turn must follow the stored ones directly
        opened = found is None
        session = found or await self._open(owner_id, room_id)
        try:
            started = await self._send.start(owner_id, session, message, idempotency_key, turn_index=at_index)
        except DomainError:
            if opened:
                await self._conversations.discard_unused_session(owner_id, session)
            raise
        return ConversationTurn(session_id=session, started=started)

    async def _named(
        self, owner_id: UUID, room_id: UUID, session_id: UUID | None, idempotency_key: str | None
    ) -> UUID | None:
        if session_id is not None:
            if (await require_session(self._sessions, owner_id, session_id)).room_id != room_id:
                raise NotFound("No such session in this room.")
            return session_id
        if idempotency_key is not None and (known := await self._turns.idempotent_turn(owner_id, idempotency_key)):
            session = await self._sessions.session_of(owner_id, known.session_id)
            if session is None or session.room_id != room_id:
                raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
            return session.id  # SendMessage replays the turn, or says the request differs
        return None

    async def _continued(self, owner_id: UUID, room_id: UUID, earlier: list[Exchange]) -> UUID | None:
        candidates = await self._conversations.sessions_holding(owner_id, room_id, [e.user for e in earlier])
        if len(candidates) <= 1:
            return candidates[0] if candidates else None
        last_index = len(earlier) - 1
        for candidate in candidates:
            last = await self._turns.turns_of(owner_id, candidate, limit=1, after=last_index - 1)
            if last and same_text(transcript(last[0].steps), earlier[-1].assistant):
                return candidate
        return candidates[0]  # the same user messages and none of the answers: the newest such session

    async def _open(self, owner_id: UUID, room_id: UUID) -> UUID:
        await require_room(self._rooms, owner_id, room_id)
        session = Session(
            id=self._ids.new_id(), room_id=room_id, user_id=owner_id, created_at=self._clock.now(), turn_count=0
        )
        await self._sessions.create_session(session)
        return session.id
