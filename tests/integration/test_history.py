"""A session's history, as later agents see it: newest first, completed answers only, bounded; the
per-process cache gives exactly what a cold read gives."""

from __future__ import annotations

from uuid import uuid4

import psycopg

from adapters.postgres.turns import PostgresTurnStore


def seed(database_url: str) -> tuple[object, list]:
    with psycopg.connect(database_url) as conn:
        user = conn.execute(
            "INSERT INTO users (id, email) VALUES (%s, %s) RETURNING id", (uuid4(), f"{uuid4()}@example.com")
        ).fetchone()[0]
        room = conn.execute(
            "INSERT INTO rooms (id, owner_id, name, current_mode, created_at, updated_at)"
            " VALUES (%s, %s, 'r', 'roundtable', now(), now()) RETURNING id",
            (uuid4(), user),
        ).fetchone()[0]
        session = conn.execute(
            "INSERT INTO sessions (id, room_id, user_id, created_at) VALUES (%s, %s, %s, now()) RETURNING id",
            (uuid4(), room, user),
        ).fetchone()[0]
    return session, [user, room]


def add_turn(database_url: str, session, owner, index: int) -> None:
    user, room = owner
    with psycopg.connect(database_url) as conn:
        turn = conn.execute(
            "INSERT INTO turns (id, session_id, user_id, room_id, turn_index, mode, status, user_message, roster,"
            " pricing_version, created_at, heartbeat_at) VALUES (%s, %s, %s, %s, %s, 'roundtable', 'partial', %s,"
            " '[]', '2026-02-20', now(), now()) RETURNING id",
            (uuid4(), session, user, room, index, f"message {index}"),
        ).fetchone()[0]
        for step, (status, content) in enumerate([("completed", f"answer {index}"), ("failed", "")]):
            conn.execute(
                "INSERT INTO turn_steps (id, turn_id, step_index, kind, agent_key, agent_name, model_alias, status,"
                " content, created_at) VALUES (%s, %s, %s, 'agent', 'ada', 'Ada', 'sim', %s, %s, now())",
                (uuid4(), turn, step, status, content),
            )


async def test_history_is_newest_first_bounded_and_the_cache_agrees(pool, database_url: str) -> None:
    session, owner = seed(database_url)
    for index in range(3):
        add_turn(database_url, session, owner, index)
    warm = PostgresTurnStore(pool)
    first = await warm.history(session, 3, 20)
    assert [(h.turn_index, h.user_message, h.answers) for h in first] == [
        (2, "message 2", [("Ada", "answer 2")]),
        (1, "message 1", [("Ada", "answer 1")]),
        (0, "message 0", [("Ada", "answer 0")]),
    ]
    for index in range(3, 6):
        add_turn(database_url, session, owner, index)
    cold = PostgresTurnStore(pool)
    assert await warm.history(session, 6, 4) == await cold.history(session, 6, 4)
    assert [h.turn_index for h in await warm.history(session, 6, 4)] == [5, 4, 3, 2]
    assert [h.turn_index for h in await warm.history(session, 2, 20)] == [1, 0]  # an older turn reads cold
