"""The sessions a stateless client's conversation continues, found by the user messages Pantheon stored."""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import AsyncConnectionPool

# Candidates come from the index turns_conversation_lookup (migration 0010): turns of the room at the
# conversation's last index whose message hashes like its last message. Only those few sessions then
# have their whole sequence of user messages compared (by the unique (session_id, turn_index) index).
# `turn_count` = the number of messages: a session that went on past them is another conversation.
SELECT_SESSIONS_HOLDING = """
WITH candidates AS MATERIALIZED (
    SELECT t.session_id FROM turns t
    WHERE t.room_id = %(room_id)s AND t.turn_index = %(count)s - 1 AND md5(t.user_message) = md5(%(last)s)
      AND t.user_message = %(last)s AND t.user_id = %(owner_id)s
)
SELECT s.id
FROM candidates c
JOIN sessions s ON s.id = c.session_id AND s.user_id = %(owner_id)s AND s.turn_count = %(count)s
JOIN rooms r ON r.id = s.room_id AND r.owner_id = %(owner_id)s AND r.deleted_at IS NULL
WHERE (SELECT array_agg(p.user_message ORDER BY p.turn_index) FROM turns p WHERE p.session_id = s.id)
      = %(messages)s::text[]
ORDER BY s.created_at DESC, s.id DESC
LIMIT 10
"""
DELETE_UNUSED_SESSION = """
DELETE FROM sessions s
WHERE s.id = %(session_id)s AND s.user_id = %(owner_id)s AND s.turn_count = 0
  AND NOT EXISTS (SELECT 1 FROM turns t WHERE t.session_id = s.id)
"""


class PostgresConversationStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def sessions_holding(self, owner_id: UUID, room_id: UUID, user_messages: list[str]) -> list[UUID]:
        if not user_messages:
            return []
        params = {
            "owner_id": owner_id,
            "room_id": room_id,
            "count": len(user_messages),
            "last": user_messages[-1],
            "messages": user_messages,
        }
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_SESSIONS_HOLDING, params)).fetchall()
        return [row["id"] for row in rows]

    async def discard_unused_session(self, owner_id: UUID, session_id: UUID) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(DELETE_UNUSED_SESSION, {"owner_id": owner_id, "session_id": session_id})
