"""Rows written straight into a test database, for tests below the HTTP and use-case layers."""

from __future__ import annotations

from uuid import UUID, uuid4

import psycopg


def seed_session(database_url: str, *, agent_keys: tuple[str, ...] = ("ada",)) -> tuple[UUID, UUID, UUID]:
    """A user, a roundtable room with these agents, and a session: (user_id, room_id, session_id)."""
    user, room, session = uuid4(), uuid4(), uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES (%s, %s)", (user, f"{user}@example.com"))
        conn.execute(
            "INSERT INTO rooms (id, owner_id, name, current_mode, created_at, updated_at)"
            " VALUES (%s, %s, 'r', 'roundtable', now(), now())",
            (room, user),
        )
        for position, key in enumerate(agent_keys):
            conn.execute(
                "INSERT INTO agents (id, room_id, agent_key, name, model_alias, role_prompt, position, created_at)"
                " VALUES (%s, %s, %s, %s, 'sim', 'x', %s, now())",
                (uuid4(), room, key, key.title(), position),
            )
        conn.execute(
            "INSERT INTO sessions (id, room_id, user_id, created_at) VALUES (%s, %s, %s, now())", (session, room, user)
        )
    return user, room, session


def insert_turn(
    database_url: str, ids: tuple[UUID, UUID, UUID], index: int, status: str, turn_id: UUID | None = None
) -> UUID:
    """A turn row of the seeded session, with the given index and status."""
    user, room, session = ids
    turn_id = turn_id or uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO turns (id, session_id, user_id, room_id, turn_index, mode, status, user_message, roster,"
            " pricing_version, created_at, heartbeat_at) VALUES (%s, %s, %s, %s, %s, 'roundtable', %s, %s, '[]',"
            " '2026-02-20', now(), now())",
            (turn_id, session, user, room, index, status, f"message {index}"),
        )
        conn.execute("UPDATE sessions SET turn_count = greatest(turn_count, %s) WHERE id = %s", (index + 1, session))
    return turn_id
