"""A session's history, as later agents see it: newest first, completed answers only, bounded; the
per-process cache gives exactly what a cold read gives."""

from __future__ import annotations

from uuid import uuid4

import psycopg

from adapters.caching import CachedHistoryStore
from adapters.postgres.turns import PostgresHistoryStore
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
    cold = PostgresHistoryStore(pool)
    warm = CachedHistoryStore(PostgresHistoryStore(pool))
    first = await warm.recent(session, before_index=3, limit=20)
    assert [(h.turn_index, h.user_message, h.answers) for h in first] == [
        (2, "message 2", [("Ada", "answer 2")]),
        (1, "message 1", [("Ada", "answer 1")]),
        (0, "message 0", [("Ada", "answer 0")]),
    ]
    for index in range(3, 6):
        add_turn(database_url, ids, index)
    assert await warm.recent(session, before_index=6, limit=4) == await cold.recent(session, before_index=6, limit=4)
    assert [h.turn_index for h in await warm.recent(session, before_index=6, limit=4)] == [5, 4, 3, 2]
    older = await warm.recent(session, before_index=2, limit=20)  # an older turn (a resumed one) reads cold
    assert [h.turn_index for h in older] == [1, 0]
    assert [h.turn_index for h in await cold.recent(session, before_index=6, limit=3, after_index=3)] == [5, 4]


class CountingHistory(PostgresHistoryStore):
    reads = 0

    async def recent(self, session_id, *, before_index, limit, after_index=-1):
        self.reads += 1
        return await super().recent(session_id, before_index=before_index, limit=limit, after_index=after_index)


async def test_the_cache_reads_only_the_turns_that_came_since(pool, database_url: str) -> None:
    ids = seed_session(database_url)
    for index in range(2):
        add_turn(database_url, ids, index)
    inner = CountingHistory(pool)
    warm = CachedHistoryStore(inner)
    await warm.recent(ids[2], before_index=2, limit=20)
    await warm.recent(ids[2], before_index=2, limit=20)  # the next step of the same turn: no read
    assert inner.reads == 1
    add_turn(database_url, ids, 2)
    served = await warm.recent(ids[2], before_index=3, limit=20)
    assert inner.reads == 2 and [h.turn_index for h in served] == [2, 1, 0]
