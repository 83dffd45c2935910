"""The event log of a running turn: numbering, delta merging, batching, taking back unseen text."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from adapters.memory.stores import MemoryDatabase
from adapters.memory.system import FixedClock
from adapters.memory.turns import MemoryTurnEventStore
from application import events as events_module
from application.errors import StoreUnavailable
from application.events import EventLog
from application.ports.events import TurnEvent
from application.ports.turns import TurnContext
from domain.model import Mode
from domain.turns import PlannedStep, RosterEntry, StepKind

ADA = RosterEntry(agent_key="ada", name="Ada", model="sim", role_prompt="x", position=0)


def turn() -> TurnContext:
    return TurnContext(
        turn_id=uuid4(),
        user_id=uuid4(),
        room_id=uuid4(),
        session_id=uuid4(),
        turn_index=3,
        mode=Mode.ROUNDTABLE,
        user_message="go",
        room_goal=None,
        roster=[ADA],
        plan=[PlannedStep(index=0, kind=StepKind.AGENT, agent=ADA)],
        pricing_version="v",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.fixture
def setup():
    seen = []
    store = MemoryTurnEventStore(MemoryDatabase())
    log = EventLog(turn(), store, FixedClock(), 1, seen.append)
    return log, store, seen


async def test_events_are_numbered_and_consecutive_deltas_merged(setup, monkeypatch) -> None:
    log, _, seen = setup
    monkeypatch.setattr(events_module, "FLUSH_EVERY_S", 3600.0)
    log.started()
    log.step_started(turn().plan[0], "ada", "Ada", "sim")
    await log.delta(0, "Hel")
    await log.delta(0, "lo")
    await log.flush()
    assert [(e.seq, e.type) for e in seen] == [(1, "turn_started"), (2, "step_started"), (3, "step_delta")]
    assert seen[2].data == {"turn_id": str(log.turn_id), "seq": 3, "index": 0, "text": "Hello"}
    assert seen[0].data["turn_index"] == 3 and seen[0].data["mode"] == "roundtable"


async def test_unseen_text_can_be_taken_back_seen_text_cannot(setup, monkeypatch) -> None:
    log, _, seen = setup
    monkeypatch.setattr(events_module, "FLUSH_EVERY_S", 3600.0)
    log.step_started(turn().plan[0], "ada", "Ada", "sim")
    await log.delta(0, "cut off")
    assert log.retract_deltas(0)  # nobody saw it: gone
    await log.delta(0, "second try")
    await log.flush()
    assert [e.data.get("text") for e in seen if e.type == "step_delta"] == ["second try"]
    await log.delta(0, " and more")
    assert not log.retract_deltas(0)  # part of this step's text was shown already


async def test_slow_text_is_flushed_while_the_step_runs(setup, monkeypatch) -> None:
    log, store, seen = setup
    monkeypatch.setattr(events_module, "FLUSH_EVERY_S", 0.0)
    log.step_started(turn().plan[0], "ada", "Ada", "sim")
    await log.delta(0, "a")
    await log.delta(0, "b")
    assert [e.type for e in seen] == ["step_started", "step_delta", "step_delta"]
    assert await store.events_after(uuid4(), log.turn_id, 0, 10) is None  # another user's view: none


async def test_a_write_that_did_not_happen_keeps_its_events(setup) -> None:
    log, _, seen = setup
    log.started()
    taken = log.take()
    assert log.take() == taken and seen == []  # still pending, numbered alike


async def test_events_found_stored_already_are_reconciled_with_the_store(setup) -> None:
    log, store, seen = setup
    log.started()
    taken = log.take()
    await store.append_events(log.turn_id, taken, FixedClock().now())  # our write landed, its answer was lost
    assert await log.reconcile(taken) and [e.seq for e in seen] == [1]
    log.step_started(turn().plan[0], "ada", "Ada", "sim")
    other = [TurnEvent(seq=2, type="step_started", data={}), TurnEvent(seq=3, type="step_delta", data={})]
    await store.append_events(log.turn_id, other, FixedClock().now())  # another run wrote these
    assert not await log.reconcile(log.take())
    log.step_started(turn().plan[0], "ada", "Ada", "sim")
    assert [e.seq for e in log.take()] == [4]  # numbering follows the store: nothing overwritten


class DownStore(MemoryTurnEventStore):
    """The database went away: every write fails (and might have landed)."""

    down = True

    async def append_events(self, turn_id, events, at) -> None:
        if self.down:
            raise StoreUnavailable("down", maybe_written=True)
        await super().append_events(turn_id, events, at)


async def test_text_keeps_streaming_through_a_database_outage_and_is_written_once(monkeypatch) -> None:
    monkeypatch.setattr(events_module, "FLUSH_EVERY_S", 0.0)
    store = DownStore(MemoryDatabase())
    seen: list = []
    log = EventLog(turn(), store, FixedClock(), 1, seen.append)
    log.step_started(turn().plan[0], "ada", "Ada", "sim")
    await log.delta(0, "Hel")  # the flush fails: no error for the provider's stream
    await log.delta(0, "lo")
    assert seen == []
    # The failed write may have stored "Hel": it is never merged with later text nor taken back.
    assert not log.retract_deltas(0)
    store.down = False
    await log.flush()
    assert [(e.seq, e.type, e.data.get("text")) for e in seen] == [
        (1, "step_started", None),
        (2, "step_delta", "Hel"),
        (3, "step_delta", "lo"),
    ]


def test_a_resumed_turn_does_not_announce_itself_again() -> None:
    store = MemoryTurnEventStore(MemoryDatabase())
    log = EventLog(turn(), store, FixedClock(), 7)
    log.started()
    assert log.take() == []
