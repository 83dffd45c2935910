"""TurnFeeds on the in-memory fakes: every follower of a turn gets exactly its stored events, in order,
and stops after the terminal one, while the store is read once per write, not once per follower; a
reader that stops reading is cut at the backlog bound, and others go on."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from uuid import UUID

from adapters.memory.signals import MemoryTurnEventSignals
from adapters.memory.stores import MemoryDatabase
from adapters.memory.turns import (
    MemoryHistoryStore,
    MemoryStepRecorder,
    MemorySummaryStore,
    MemoryTurnEventStore,
    MemoryTurnStore,
    MemoryUsageLedger,
)
from application.feeds import Follower, TurnFeeds
from application.ports.events import EventPage, TurnEvent
from application.ports.turns import TurnContext
from domain.turns import TurnStatus
from tests.integration.ports.test_stores import memory_stores_on, tick
from tests.integration.ports.test_turn_ports import TurnPorts, a_session, event
from tests.support.turns import start_turn

WAIT_S = 5.0


class CountingStore(MemoryTurnEventStore):
    def __init__(self, db: MemoryDatabase) -> None:
        super().__init__(db)
        self.reads = 0

    async def events_after(self, user_id: UUID, turn_id: UUID, after_seq: int, limit: int) -> EventPage | None:
        self.reads += 1
        return await super().events_after(user_id, turn_id, after_seq, limit)


class World:
    def __init__(self, **feeds: object) -> None:
        self.db = MemoryDatabase()
        self.ports = TurnPorts(
            memory_stores_on(self.db),
            MemoryTurnStore(self.db),
            MemoryHistoryStore(self.db),
            MemoryStepRecorder(self.db),
            CountingStore(self.db),
            MemoryUsageLedger(self.db),
            MemorySummaryStore(self.db),
        )
        self.store: CountingStore = self.ports.events  # type: ignore[assignment]
        self.feeds = TurnFeeds(self.store, MemoryTurnEventSignals(self.db), **feeds)  # type: ignore[arg-type]

    async def turn(self) -> TurnContext:
        owner, _, session = await a_session(self.ports, "ada")
        return await start_turn(self.ports.turns, owner.id, session, now=tick())

    async def write(self, turn: TurnContext, *events: TurnEvent) -> None:
        await self.store.append_events(turn.turn_id, list(events), tick())

    async def finish(self, turn: TurnContext, seq: int) -> None:
        done = [event(turn, seq, "turn_completed")]
        await self.ports.turns.finish_turn(turn.turn_id, TurnStatus.COMPLETED, tick(), None, done)


async def read_all(follower: Follower) -> tuple[list[int], str]:
    """What a stream would send: the seqs, and "terminal" or why it ended before its terminal event."""
    seen: list[int] = []
    while True:
        got = await asyncio.wait_for(follower.next(WAIT_S), WAIT_S * 2)
        seen += [e.seq for e in got.events]
        if got.events and got.events[-1].type == "turn_completed":
            return seen, "terminal"
        if got.end is not None:
            return seen, got.end


def deltas(turn: TurnContext, first: int, last: int) -> list[TurnEvent]:
    return [event(turn, seq) for seq in range(first, last + 1)]


async def test_many_followers_get_exactly_the_stored_events_and_the_store_is_read_once_per_write() -> None:
    world = World()
    turn = await world.turn()
    await world.write(turn, event(turn, 1, "turn_started"))
    with ExitStack() as stack:
        followers = [stack.enter_context(world.feeds.follow(turn.user_id, turn.turn_id, 0)) for _ in range(50)]
        readers = [asyncio.ensure_future(read_all(f)) for f in followers]
        for seq in range(2, 12):
            await world.write(turn, event(turn, seq))
            await asyncio.sleep(0.01)  # the feed reads each write on its own
        await world.finish(turn, 12)
        results = await asyncio.gather(*readers)
    assert all(result == (list(range(1, 13)), "terminal") for result in results)
    assert world.store.reads <= 12 + 2  # one per write (and the feed's first), never one per follower
    assert world.feeds.followers == 0


async def test_a_follower_joining_late_or_from_a_last_event_id_misses_nothing_and_repeats_nothing() -> None:
    world = World()
    turn = await world.turn()
    await world.write(turn, event(turn, 1, "turn_started"), *deltas(turn, 2, 4))
    with world.feeds.follow(turn.user_id, turn.turn_id, 0) as early:
        assert [e.seq for e in (await early.next(WAIT_S)).events] == [1, 2, 3, 4]
        await world.write(turn, *deltas(turn, 5, 6))
        assert [e.seq for e in (await early.next(WAIT_S)).events] == [5, 6]
        with world.feeds.follow(turn.user_id, turn.turn_id, 3) as late:  # Last-Event-ID: 3, the feed is at 6
            reader = asyncio.ensure_future(read_all(late))
            await world.write(turn, *deltas(turn, 7, 8))
            await world.finish(turn, 9)
            assert await reader == ([4, 5, 6, 7, 8, 9], "terminal")
        assert await read_all(early) == ([7, 8, 9], "terminal")


async def test_the_process_running_the_turn_hands_its_events_over_without_a_query() -> None:
    world = World()
    turn = await world.turn()
    publish = world.feeds.publisher(turn.user_id, turn.turn_id)
    with world.feeds.follow(turn.user_id, turn.turn_id, 0) as follower:
        await asyncio.sleep(0.01)  # the new feed's one catch-up read
        reads = world.store.reads
        for seq in range(1, 6):
            stored = event(turn, seq, "turn_started" if seq == 1 else "step_delta")
            await world.write(turn, stored)  # as EventLog does: stored first, then handed over
            publish(stored)
        assert [e.seq for e in (await follower.next(WAIT_S)).events] == [1, 2, 3, 4, 5]
        await asyncio.sleep(0.01)
        assert world.store.reads == reads  # the notices of those writes named seqs it had already


async def test_a_reader_that_stops_reading_is_cut_at_the_bound_and_the_others_go_on() -> None:
    world = World(backlog_bytes=2000)
    turn = await world.turn()
    cut: list[bool] = []
    with (
        world.feeds.follow(turn.user_id, turn.turn_id, 0) as stalled,
        world.feeds.follow(turn.user_id, turn.turn_id, 0) as reading,
    ):
        stalled.on_cut = lambda: cut.append(True)
        reader = asyncio.ensure_future(read_all(reading))
        await world.write(turn, event(turn, 1, "turn_started"))
        assert [e.seq for e in (await stalled.next(WAIT_S)).events] == [1]  # then it stops reading
        for seq in range(2, 200):
            await world.write(turn, event(turn, seq))
            await asyncio.sleep(0)
            assert stalled.backlog_bytes <= 2000  # never more than the bound waits for it
        await world.finish(turn, 200)
        assert await reader == (list(range(1, 201)), "terminal")
        assert cut == [True] and stalled.backlog_bytes == 0
        assert await stalled.next(WAIT_S) == ([], "cut")
    # It reconnects after the last event it was handed and gets the rest.
    assert stalled.last == 1
    with world.feeds.follow(turn.user_id, turn.turn_id, stalled.last) as again:
        assert await read_all(again) == (list(range(stalled.last + 1, 201)), "terminal")


async def test_a_deleted_room_ends_its_followers() -> None:
    world = World()
    owner, room, session = await a_session(world.ports, "ada")
    turn = await start_turn(world.ports.turns, owner.id, session, now=tick())
    with world.feeds.follow(owner.id, turn.turn_id, 0) as follower:
        reader = asyncio.ensure_future(read_all(follower))
        await asyncio.sleep(0.01)
        await world.ports.stores.rooms.delete_room(owner.id, room.id, tick())
        assert await reader == ([], "gone")


class Deaf:
    """Signals that never wake anyone: a notice lost in flight, for ever."""

    def watch(self, turn_id: UUID, wake: object) -> object:
        return lambda: None


async def test_without_any_notice_the_safety_read_still_delivers() -> None:
    world = World()
    world.feeds = TurnFeeds(world.store, Deaf(), safety_poll_s=0.05)  # type: ignore[arg-type]
    turn = await world.turn()
    with world.feeds.follow(turn.user_id, turn.turn_id, 0) as follower:
        reader = asyncio.ensure_future(read_all(follower))
        await asyncio.sleep(0.01)
        await world.write(turn, event(turn, 1, "turn_started"), event(turn, 2))
        await world.finish(turn, 3)
        assert await reader == ([1, 2, 3], "terminal")
