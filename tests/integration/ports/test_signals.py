"""The shared suite of TurnEventSignals: the in-memory fake and the PostgreSQL listener (LISTEN/NOTIFY,
migration 0009's triggers) wake the same watchers for the same writes. Then what only PostgreSQL does:
a notice crosses processes, and a listener whose connection is killed listens again and wakes everyone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pytest

from adapters.memory.signals import MemoryTurnEventSignals
from adapters.postgres.events import PostgresTurnEventStore
from adapters.postgres.ledger import PostgresUsageLedger
from adapters.postgres.memory import PostgresSummaryStore
from adapters.postgres.signals import PostgresTurnEventSignals
from adapters.postgres.steps import PostgresStepRecorder
from adapters.postgres.turns import PostgresHistoryStore, PostgresTurnStore
from application.ports.signals import TurnEventSignals
from domain.turns import TurnStatus
from tests.integration.ports.test_stores import postgres_stores, tick
from tests.integration.ports.test_turn_ports import TurnPorts, a_session, event, ports, row, step  # noqa: F401
from tests.support.turns import start_turn

WAIT_S = 10.0  # a notice arrives in milliseconds; this only bounds a broken run


@dataclass
class Signalled:
    ports: TurnPorts
    signals: TurnEventSignals


class Watcher:
    """What one watcher of one turn was told, in order."""

    def __init__(self, signals: TurnEventSignals, turn_id: UUID) -> None:
        self.told: list[int | None] = []
        self._changed = asyncio.Event()
        self.stop = signals.watch(turn_id, self._wake)

    def _wake(self, seq: int | None) -> None:
        self.told.append(seq)
        self._changed.set()

    async def told_of(self, seq: int | None) -> None:
        while seq not in self.told:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), WAIT_S)


@pytest.fixture
async def signalled(ports: TurnPorts, request: pytest.FixtureRequest) -> AsyncIterator[Signalled]:  # noqa: F811
    if request.node.callspec.params["ports"] == "memory":
        db = ports.turns._db  # type: ignore[attr-defined]  # the fakes share one MemoryDatabase
        yield Signalled(ports, MemoryTurnEventSignals(db))
        return
    signals = PostgresTurnEventSignals(request.getfixturevalue("database_url"))
    await signals.open()
    try:
        yield Signalled(ports, signals)
    finally:
        await signals.close()


async def test_each_write_of_events_wakes_the_watchers_of_its_turn_only(signalled: Signalled) -> None:
    world, signals = signalled.ports, signalled.signals
    owner, _, session = await a_session(world, "ada")
    other_owner, _, other_session = await a_session(world, "bob")
    turn = await start_turn(world.turns, owner.id, session, now=tick())
    other = await start_turn(world.turns, other_owner.id, other_session, now=tick())
    mine, twice = Watcher(signals, turn.turn_id), Watcher(signals, turn.turn_id)
    theirs = Watcher(signals, other.turn_id)

    await world.events.append_events(turn.turn_id, [event(turn, 1, "turn_started"), event(turn, 2)], tick())
    await mine.told_of(2)
    await twice.told_of(2)
    # A step's commit and the turn's final mark carry events in the same statement: both notify.
    await world.recorder.commit_step(turn.turn_id, step(0, "ada"), [row(turn, 0)], tick(), events=[event(turn, 3)])
    await mine.told_of(3)
    await world.events.append_events(other.turn_id, [event(other, 1, "turn_started")], tick())
    await theirs.told_of(1)
    await world.turns.finish_turn(turn.turn_id, TurnStatus.COMPLETED, tick(), None, [event(turn, 4, "turn_completed")])
    await mine.told_of(4)
    assert 1 not in mine.told and 3 not in theirs.told and 4 not in theirs.told  # never another turn's
    assert [seq for seq in mine.told if seq is not None] == [2, 3, 4]  # one notice per write, its last seq


async def test_a_write_that_stores_nothing_new_wakes_nobody_and_a_stopped_watch_hears_nothing(
    signalled: Signalled,
) -> None:
    world, signals = signalled.ports, signalled.signals
    owner, _, session = await a_session(world, "ada")
    turn = await start_turn(world.turns, owner.id, session, now=tick())
    watcher, stopped = Watcher(signals, turn.turn_id), Watcher(signals, turn.turn_id)
    await world.events.append_events(turn.turn_id, [event(turn, 1, "turn_started")], tick())
    await watcher.told_of(1)
    stopped.stop()
    await world.events.append_events(turn.turn_id, [event(turn, 1, "turn_started")], tick())  # a retried write
    await world.events.append_events(turn.turn_id, [event(turn, 2)], tick())
    await watcher.told_of(2)
    assert [s for s in watcher.told if s is not None] == [1, 2] and [s for s in stopped.told if s is not None] == [1]


async def test_deleting_a_room_wakes_the_watchers_of_its_running_turns(signalled: Signalled) -> None:
    world, signals = signalled.ports, signalled.signals
    owner, room, session = await a_session(world, "ada")
    turn = await start_turn(world.turns, owner.id, session, now=tick())
    watcher = Watcher(signals, turn.turn_id)
    await world.stores.rooms.delete_room(owner.id, room.id, tick())
    await watcher.told_of(None)  # "read again": the reader then finds the turn gone
    assert await world.events.events_after(owner.id, turn.turn_id, 0, 10) is None


# PostgreSQL only ------------------------------------------------------------------------------------


def postgres_ports(pool: Any) -> TurnPorts:
    return TurnPorts(
        postgres_stores(pool),
        PostgresTurnStore(pool),
        PostgresHistoryStore(pool),
        PostgresStepRecorder(pool),
        PostgresTurnEventStore(pool),
        PostgresUsageLedger(pool),
        PostgresSummaryStore(pool),
    )


async def test_a_notice_reaches_every_process_listening(database_url: str, pool: object) -> None:
    world = postgres_ports(pool)
    first, second = PostgresTurnEventSignals(database_url), PostgresTurnEventSignals(database_url)
    await first.open()
    await second.open()
    try:
        owner, _, session = await a_session(world, "ada")
        turn = await start_turn(world.turns, owner.id, session, now=tick())
        here, there = Watcher(first, turn.turn_id), Watcher(second, turn.turn_id)
        with psycopg.connect(database_url, autocommit=True) as conn:  # a writer that is neither of them
            conn.execute(
                "INSERT INTO turn_events (turn_id, seq, type, payload, created_at) VALUES (%s, 1, 'turn_started',"
                " '{}', now()), (%s, 2, 'step_delta', '{}', now())",
                (turn.turn_id, turn.turn_id),
            )
        await here.told_of(2)
        await there.told_of(2)
        # Uncommitted events are not announced: the notice goes out with the commit.
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "INSERT INTO turn_events (turn_id, seq, type, payload, created_at) VALUES (%s, 3, 'step_delta',"
                " '{}', now())",
                (turn.turn_id,),
            )
            await asyncio.sleep(0.3)
            assert 3 not in here.told
            conn.commit()
        await here.told_of(3)
    finally:
        await first.close()
        await second.close()


async def test_a_listener_whose_connection_is_killed_listens_again_and_wakes_every_watcher(
    database_url: str, pool: object
) -> None:
    world = postgres_ports(pool)
    signals = PostgresTurnEventSignals(database_url)
    await signals.open()
    try:
        owner, _, session = await a_session(world, "ada")
        turn = await start_turn(world.turns, owner.id, session, now=tick())
        watcher = Watcher(signals, turn.turn_id)
        assert signals.connects == 1
        with psycopg.connect(database_url, autocommit=True) as conn:  # what a restart does to it
            killed = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN pantheon_turn_events'"
                " AND datname = current_database()"
            ).fetchall()
        assert killed == [(True,)]
        await watcher.told_of(None)  # listening again: whatever was missed meanwhile is to be read
        assert signals.connects == 2 and signals.listening
        await world.events.append_events(turn.turn_id, [event(turn, 1, "turn_started")], tick())
        await watcher.told_of(1)
    finally:
        await signals.close()
