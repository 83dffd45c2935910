"""The shared suite of the StopStore port (and the caps a turn snapshots), memory and PostgreSQL alike,
and the polling StopWatch over it."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import msgspec
import pytest

from adapters.memory.signals import MemoryTurnEventSignals
from adapters.memory.stops import MemoryStopStore
from adapters.polling_stops import PollingStopWatch
from adapters.postgres.signals import PostgresTurnEventSignals
from adapters.postgres.stops import PostgresStopStore
from application.ports.stops import StopStore
from domain.stopping import StopMode, StopReason, TurnCaps
from domain.turns import TurnStatus
from tests.integration.ports.test_stores import tick
from tests.integration.ports.test_turn_ports import TurnPorts, a_session
from tests.integration.ports.test_turn_ports import ports as ports
from tests.support.turns import start_turn


@pytest.fixture
def stops(ports: TurnPorts, request: pytest.FixtureRequest) -> StopStore:
    if request.node.callspec.params["ports"] == "memory":
        return MemoryStopStore(ports.turns._db)  # type: ignore[attr-defined]  (the same MemoryDatabase)
    return PostgresStopStore(request.getfixturevalue("pool"))


async def test_a_turn_snapshots_its_rooms_caps(ports: TurnPorts) -> None:
    owner, room, session = await a_session(ports, "ada")
    capped = msgspec.structs.replace(
        room, max_credits_per_turn=Decimal("0.5000"), max_agent_calls_per_turn=3, max_turn_seconds=90
    )
    await ports.stores.rooms.save_room(capped)
    saved = await ports.stores.rooms.room_of(owner.id, room.id)
    assert (saved.max_credits_per_turn, saved.max_agent_calls_per_turn, saved.max_turn_seconds) == (
        Decimal("0.5000"),
        3,
        90,
    )
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    caps = TurnCaps(max_credits=Decimal("0.5000"), max_agent_calls=3, max_seconds=90)
    assert turn.caps == caps
    await ports.stores.rooms.save_room(msgspec.structs.replace(capped, max_agent_calls_per_turn=None))
    assert (await ports.turns.context_of(turn.turn_id)).caps == caps  # edits apply to the next turn


async def test_a_stop_is_stored_on_a_running_turn_only_and_never_weakened(
    ports: TurnPorts,
    stops: StopStore,
) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    assert await stops.stop_requests([turn.turn_id]) == {}
    at = tick()
    assert await stops.request_stop(owner.id, session, turn.turn_id, StopMode.AFTER_STEP, at) is TurnStatus.RUNNING
    assert await stops.stop_requests([turn.turn_id, uuid.uuid4()]) == {turn.turn_id: StopMode.AFTER_STEP}
    assert await stops.request_stop(owner.id, session, turn.turn_id, StopMode.NOW, tick()) is TurnStatus.RUNNING
    assert await stops.request_stop(owner.id, session, turn.turn_id, StopMode.AFTER_STEP, tick()) is TurnStatus.RUNNING
    assert await stops.stop_requests([turn.turn_id]) == {turn.turn_id: StopMode.NOW}  # `now` stands

    other, _, _ = await a_session(ports, "bob")
    assert await stops.request_stop(other.id, session, turn.turn_id, StopMode.NOW, tick()) is None  # tenancy
    assert await stops.request_stop(owner.id, uuid.uuid4(), turn.turn_id, StopMode.NOW, tick()) is None

    finished = tick()
    assert await ports.turns.finish_turn(turn.turn_id, TurnStatus.STOPPED, finished, None, [], StopReason.USER.value)
    read = await ports.turns.turn_of(owner.id, turn.turn_id)
    assert (read.status, read.stop_reason) == (TurnStatus.STOPPED, "user")
    assert await stops.request_stop(owner.id, session, turn.turn_id, StopMode.NOW, tick()) is TurnStatus.STOPPED
    assert await stops.stop_requests([turn.turn_id]) == {}  # a finished turn has nothing to hear


async def test_the_polling_watch_hears_a_stop_stored_anywhere(ports: TurnPorts, stops: StopStore) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    heard: list[StopMode] = []
    watch = PollingStopWatch(stops, interval_s=0.02)
    await watch.watch(turn.turn_id, heard.append)
    assert heard == []
    await stops.request_stop(owner.id, session, turn.turn_id, StopMode.AFTER_STEP, tick())  # "another process"
    for _ in range(200):
        if heard:
            break
        await asyncio.sleep(0.01)
    assert heard[0] is StopMode.AFTER_STEP
    watch.stored(turn.turn_id, StopMode.NOW)  # stored by this process: heard at once
    assert heard[-1] is StopMode.NOW
    watch.unwatch(turn.turn_id)
    count = len(heard)
    await asyncio.sleep(0.1)
    assert len(heard) == count  # nobody listens any more

    already: list[StopMode] = []
    await watch.watch(turn.turn_id, already.append, read_now=True)  # a stop stored before (a resumed turn)
    assert already == [StopMode.AFTER_STEP]
    watch.unwatch(turn.turn_id)


async def test_the_final_mark_refuses_a_turn_whose_stop_it_does_not_account_for(
    ports: TurnPorts, stops: StopStore
) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    await stops.request_stop(owner.id, session, turn.turn_id, StopMode.AFTER_STEP, tick())
    assert not await ports.turns.finish_turn(turn.turn_id, TurnStatus.COMPLETED, tick(), None)  # a stop came
    assert (await ports.turns.turn_of(owner.id, turn.turn_id)).status is TurnStatus.RUNNING
    assert await ports.turns.finish_turn(turn.turn_id, TurnStatus.STOPPED, tick(), None, [], "user")

    other = await start_turn(ports.turns, owner.id, session, now=tick())
    await stops.request_stop(owner.id, session, other.turn_id, StopMode.NOW, tick())
    # A turn that could not run at all ends failed, stop or no stop.
    assert await ports.turns.finish_turn(other.turn_id, TurnStatus.FAILED, tick(), None)


async def test_a_stored_stop_is_heard_by_its_notice_without_waiting_for_a_poll(
    ports: TurnPorts, stops: StopStore, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["ports"] == "memory":
        signals = MemoryTurnEventSignals(ports.turns._db)  # type: ignore[attr-defined]
    else:
        signals = PostgresTurnEventSignals(request.getfixturevalue("database_url"))
        await signals.open()
    try:
        owner, _, session = await a_session(ports, "ada")
        turn = await start_turn(ports.turns, owner.id, session, now=tick())
        heard: list[StopMode] = []
        watch = PollingStopWatch(stops, interval_s=3600, signals=signals)  # its poll never comes in time
        await watch.watch(turn.turn_id, heard.append)
        await stops.request_stop(owner.id, session, turn.turn_id, StopMode.NOW, tick())  # "another process"
        for _ in range(500):
            if heard:
                break
            await asyncio.sleep(0.01)
        assert heard == [StopMode.NOW]
        watch.unwatch(turn.turn_id)
    finally:
        if isinstance(signals, PostgresTurnEventSignals):
            await signals.close()
