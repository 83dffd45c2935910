"""A session's history, as later agents see it: newest first, completed answers only, bounded; the
per-process cache gives exactly what a cold read gives."""

from __future__ import annotations

from uuid import uuid4

import psycopg

from adapters.postgres.turns import PostgresTurnStore
from tests.support.seed import insert_turn, seed_session


def add_turn(database_url: str, ids, index: int) -> None:
    turn = insert_turn(database_url, ids, index, "partial")
    with psycopg.connect(database_url) as conn:
        for step, (status, content) in enumerate([("completed", f"answer {index}"), ("failed", "")]):
            conn.execute(
                "INSERT INTO turn_steps (id, turn_id, step_index, kind, agent_key, agent_name, model_alias, status,"
                " content, created_at) VALUES (%s, %s, %s, 'agent', 'ada', 'Ada', 'sim', %s, %s, now())",
                (uuid4(), turn, step, status, content),
            )


async def test_history_is_newest_first_bounded_and_the_cache_agrees(pool, database_url: str) -> None:
    ids = seed_session(database_url)
    session = ids[2]
    for index in range(3):
        add_turn(database_url, ids, index)
    warm = PostgresTurnStore(pool)
    first = await warm.history(session, 3, 20)
    assert [(h.turn_index, h.user_message, h.answers) for h in first] == [
        (2, "message 2", [("Ada", "answer 2")]),
        (1, "message 1", [("Ada", "answer 1")]),
        (0, "message 0", [("Ada", "answer 0")]),
    ]
    for index in range(3, 6):
        add_turn(database_url, ids, index)
    cold = PostgresTurnStore(pool)
    assert await warm.history(session, 6, 4) == await cold.history(session, 6, 4)
    assert [h.turn_index for h in await warm.history(session, 6, 4)] == [5, 4, 3, 2]
    assert [h.turn_index for h in await warm.history(session, 2, 20)] == [1, 0]  # an older turn reads cold


async def test_a_turn_start_brings_the_history_along(pool, database_url: str) -> None:
    from datetime import UTC, datetime

    from application.ports.turns import NewTurn
    from domain.model import Mode
    from domain.planning import plan_turn

    ids = seed_session(database_url)
    for index in range(2):
        add_turn(database_url, ids, index)
    warm = PostgresTurnStore(pool)
    new = NewTurn(
        turn_id=uuid4(),
        user_id=ids[0],
        session_id=ids[2],
        message="go",
        idempotency_key=None,
        request_hash="h",
        pricing_version="2026-02-20",
        now=datetime.now(UTC),
    )
    context = await warm.begin_turn(new, lambda mode, roster: plan_turn(Mode(mode), roster, "go"))
    assert context.turn_index == 2
    served = await warm.history(ids[2], 2, 20)
    assert served == await PostgresTurnStore(pool).history(ids[2], 2, 20)
    assert [h.turn_index for h in served] == [1, 0]
