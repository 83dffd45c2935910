from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from adapters.postgres.rooms import after_key
from application.ports.sessions import Message, MessageAt
from domain.model import Session

INSERT_SESSION = """
INSERT INTO sessions (id, room_id, user_id, created_at, turn_count)
VALUES (%(id)s, %(room_id)s, %(user_id)s, %(created_at)s, 0)
"""
SESSION_COLUMNS = "s.id, s.room_id, s.user_id, s.created_at, s.turn_count"
SELECT_SESSIONS_OF_ROOM = f"""
SELECT {SESSION_COLUMNS} FROM sessions s JOIN rooms r ON r.id = s.room_id
WHERE s.room_id = %(room_id)s AND s.user_id = %(owner_id)s AND r.owner_id = %(owner_id)s AND r.deleted_at IS NULL
  AND (%(after_at)s::timestamptz IS NULL OR (s.created_at, s.id) > (%(after_at)s, %(after_id)s::uuid))
ORDER BY s.created_at, s.id
LIMIT %(limit)s
"""
SELECT_SESSION = f"""
SELECT {SESSION_COLUMNS} FROM sessions s JOIN rooms r ON r.id = s.room_id
WHERE s.id = %(session_id)s AND s.user_id = %(owner_id)s AND r.deleted_at IS NULL
"""
# The user's message opens each turn (position -1); agent and synthesis steps follow by index.
# Manager routing steps are internal and not part of the conversation. A page of `limit` messages
# comes from at most `limit` turns (each has its user message), so only those turns are read.
SELECT_MESSAGES = """
WITH page_turns AS (
    SELECT t.id, t.turn_index, t.user_message, t.created_at
    FROM turns t JOIN rooms r ON r.id = t.room_id AND r.deleted_at IS NULL
    WHERE t.session_id = %(session_id)s AND t.user_id = %(owner_id)s AND t.turn_index >= %(from_turn)s
    ORDER BY t.turn_index LIMIT %(limit)s + 1
)
SELECT id, turn_index, role, agent_key, agent_name, content, status, created_at, position FROM (
    SELECT t.id, t.turn_index, 'user' AS role, NULL AS agent_key, NULL AS agent_name,
           t.user_message AS content, 'ok' AS status, t.created_at, -1 AS position
    FROM page_turns t
    UNION ALL
    SELECT st.id, t.turn_index, 'assistant', st.agent_key, st.agent_name,
           CASE WHEN st.status = 'completed' THEN st.content ELSE coalesce(st.error->>'detail', '') END,
           CASE WHEN st.status = 'completed' THEN 'ok' ELSE 'error' END,
           st.created_at, st.step_index
    FROM page_turns t JOIN turn_steps st ON st.turn_id = t.id
    WHERE st.kind <> 'manager'
) m
WHERE (turn_index, position) > (%(after_turn)s, %(after_position)s)
ORDER BY turn_index, position
LIMIT %(limit)s
"""


def to_session(row: dict[str, Any]) -> Session:
    return Session(
        id=row["id"],
        room_id=row["room_id"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        turn_count=row["turn_count"],
    )


class PostgresSessionStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def create_session(self, session: Session) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                INSERT_SESSION,
                {
                    "id": session.id,
                    "room_id": session.room_id,
                    "user_id": session.user_id,
                    "created_at": session.created_at,
                },
            )

    async def sessions_of_room(
        self, owner_id: UUID, room_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[Session]:
        params = {"owner_id": owner_id, "room_id": room_id, "limit": limit, **after_key(after)}
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_SESSIONS_OF_ROOM, params)
            return [to_session(r) for r in await cur.fetchall()]

    async def session_of(self, owner_id: UUID, session_id: UUID) -> Session | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_SESSION, {"owner_id": owner_id, "session_id": session_id})
            row = await cur.fetchone()
        return to_session(row) if row else None

    async def messages_of(
        self, owner_id: UUID, session_id: UUID, *, limit: int, after: tuple[int, int] | None
    ) -> list[MessageAt]:
        after_turn, after_position = after or (-1, 0)
        params = {
            "owner_id": owner_id,
            "session_id": session_id,
            "limit": limit,
            "from_turn": max(after_turn, 0),
            "after_turn": after_turn,
            "after_position": after_position,
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_MESSAGES, params)).fetchall()
        return [MessageAt(position=row.pop("position"), message=Message(**row)) for row in rows]
