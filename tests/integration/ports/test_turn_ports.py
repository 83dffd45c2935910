"""The shared suite of the turn ports (TurnStore, HistoryStore, StepRecorder, TurnEventStore,
UsageLedger, and the conversation SessionStore reads back), run against the in-memory fakes and the
PostgreSQL adapters with the same assertions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from adapters.memory.stores import MemoryDatabase
from adapters.memory.turns import (
    MemoryHistoryStore,
    MemoryStepRecorder,
    MemorySummaryStore,
    MemoryTurnEventStore,
    MemoryTurnStore,
    MemoryUsageLedger,
)
from adapters.postgres.events import PostgresTurnEventStore
from adapters.postgres.ledger import PostgresUsageLedger
from adapters.postgres.memory import PostgresSummaryStore
from adapters.postgres.steps import PostgresStepRecorder
from adapters.postgres.turns import PostgresHistoryStore, PostgresTurnStore
from application.ports.events import TurnEvent, TurnEventStore
from application.ports.memory import SummaryStore
from application.ports.turns import (
    CallIntent,
    ContextAudit,
    HistoryStore,
    LedgerEntry,
    StepRecorder,
    TurnContext,
    TurnStore,
)
from application.ports.usage import UsageLedger
from domain.errors import IdempotencyConflict, TurnInProgress
from domain.memory import Summary
from domain.model import Mode, Room, User
from domain.turns import StepError, StepKind, StepStatus, StepUsage, TurnStatus, TurnStep
from tests.integration.ports.test_stores import (
    Stores,
    add_agent,
    add_room,
    add_session,
    add_user,
    memory_stores_on,
    postgres_stores,
    tick,
)
from tests.support.turns import start_turn


@dataclass
class TurnPorts:
    stores: Stores
    turns: TurnStore
    history: HistoryStore
    recorder: StepRecorder
    events: TurnEventStore
    ledger: UsageLedger
    memory: SummaryStore


@pytest.fixture(params=["memory", "postgres"])
def ports(request: pytest.FixtureRequest) -> TurnPorts:
    if request.param == "memory":
        db = MemoryDatabase()
        return TurnPorts(
            memory_stores_on(db),
            MemoryTurnStore(db),
            MemoryHistoryStore(db),
            MemoryStepRecorder(db),
            MemoryTurnEventStore(db),
            MemoryUsageLedger(db),
            MemorySummaryStore(db),
        )
    pool = request.getfixturevalue("pool")
    return TurnPorts(
        postgres_stores(pool),
        PostgresTurnStore(pool),
        PostgresHistoryStore(pool),
        PostgresStepRecorder(pool),
        PostgresTurnEventStore(pool),
        PostgresUsageLedger(pool),
        PostgresSummaryStore(pool),
    )


async def a_session(ports: TurnPorts, *keys: str, mode: Mode = Mode.ROUNDTABLE) -> tuple[User, Room, uuid.UUID]:
    owner = await add_user(ports.stores)
    room = await add_room(ports.stores, owner)
    if mode is not Mode.MANUAL:  # rooms start in manual: the mode waits, pending, for the first turn
        await ports.stores.rooms.change_pending_mode(owner.id, room.id, lambda current, pending: mode, tick())
    for position, key in enumerate(keys):
        await add_agent(ports.stores, room, key, position)
    return owner, room, (await add_session(ports.stores, room)).id


def step(
    index: int, key: str, *, status: StepStatus = StepStatus.COMPLETED, kind: StepKind = StepKind.AGENT
) -> TurnStep:
    failed = status is StepStatus.FAILED
    return TurnStep(
        index=index,
        kind=kind,
        agent_key=key,
        agent_name=key.title(),
        model="sim",
        status=status,
        content="" if failed else f"{key} answers",
        error=StepError(code="provider_error", detail=f"{key} broke") if failed else None,
        usage=StepUsage(input_tokens=10, output_tokens=5, credits=Decimal("0.0123")),
    )


def row(turn: TurnContext, index: int, *, call_id: uuid.UUID | None = None, at=None, alias: str = "sim") -> LedgerEntry:
    return LedgerEntry(
        id=uuid.uuid4(),
        call_id=call_id or uuid.uuid4(),
        user_id=turn.user_id,
        room_id=turn.room_id,
        session_id=turn.session_id,
        turn_id=turn.turn_id,
        step_index=index,
        agent_key="ada",
        provider="simulated",
        model_alias=alias,
        provider_model="pantheon-sim",
        input_tokens_fresh=10,
        input_tokens_cached=0,
        output_tokens=5,
        total_tokens=15,
        oe_tokens=Decimal("8.5000"),
        multiplier=Decimal("1.0000"),
        credits_burned=Decimal("0.0123"),
        provider_cost_usd=Decimal("0.00000000"),
        latency_ms=3,
        status="success",
        pricing_version="2026-02-20",
        request_id="r",
        created_at=at or tick(),
    )


def intent(turn: TurnContext, index: int) -> CallIntent:
    return CallIntent(
        call_id=uuid.uuid4(),
        turn_id=turn.turn_id,
        step_index=index,
        agent_key="ada",
        provider="simulated",
        model_alias="sim",
        provider_model="pantheon-sim",
        estimated_input_tokens=400,
        started_at=tick(),
    )


def event(turn: TurnContext, seq: int, kind: Any = "step_delta") -> TurnEvent:
    return TurnEvent(seq=seq, type=kind, data={"turn_id": str(turn.turn_id), "seq": seq})


# TurnStore ------------------------------------------------------------------------------------------


async def test_a_turn_start_shows_the_session_and_room_as_they_are(ports: TurnPorts) -> None:
    owner, room, session = await a_session(ports, "bob", "ada")
    start = await ports.turns.turn_start(owner.id, session)
    assert start is not None
    assert (start.room_id, start.next_index, start.busy) == (room.id, 0, False)
    assert (start.current_mode, start.pending_mode, start.room_goal) == (Mode.MANUAL, Mode.ROUNDTABLE, "A goal")
    assert [a.agent_key for a in start.roster] == ["bob", "ada"]  # by position
    stranger = await add_user(ports.stores)
    assert await ports.turns.turn_start(stranger.id, session) is None
    await ports.stores.rooms.delete_room(owner.id, room.id, tick())
    assert await ports.turns.turn_start(owner.id, session) is None


async def test_allocation_is_gapless_one_at_a_time_and_applies_the_pending_mode(ports: TurnPorts) -> None:
    owner, room, session = await a_session(ports, "ada")
    first = await start_turn(ports.turns, owner.id, session, now=tick())
    assert (first.turn_index, first.mode) == (0, Mode.ROUNDTABLE)
    room_now = await ports.stores.rooms.room_of(owner.id, room.id)
    assert (room_now.current_mode, room_now.pending_mode) == (Mode.ROUNDTABLE, None)
    start = await ports.turns.turn_start(owner.id, session)
    assert (start.next_index, start.busy) == (1, True)
    with pytest.raises(TurnInProgress):  # one running turn per session
        await start_turn(ports.turns, owner.id, session, now=tick())
    await ports.turns.finish_turn(first.turn_id, TurnStatus.COMPLETED, tick(), None)
    stale = msgspec.structs.replace(first, turn_id=uuid.uuid4())  # a start that read index 0 too
    with pytest.raises(TurnInProgress):
        await ports.turns.allocate(stale, applied_pending=None, idempotency_key=None, request_hash="h")
    second = await start_turn(ports.turns, owner.id, session, now=tick())
    assert second.turn_index == 1


async def test_a_mode_requested_since_the_start_was_read_waits_for_the_next_turn(ports: TurnPorts) -> None:
    owner, room, session = await a_session(ports, "ada")  # pending: roundtable
    start = await ports.turns.turn_start(owner.id, session)
    await ports.stores.rooms.change_pending_mode(owner.id, room.id, lambda current, pending: Mode.MANUAL, tick())
    turn = TurnContext(
        turn_id=uuid.uuid4(),
        user_id=owner.id,
        room_id=room.id,
        session_id=session,
        turn_index=start.next_index,
        mode=Mode.ROUNDTABLE,
        user_message="go",
        room_goal=None,
        roster=start.roster,
        plan=[],
        pricing_version="2026-02-20",
        created_at=tick(),
    )
    await ports.turns.allocate(turn, applied_pending=Mode.ROUNDTABLE, idempotency_key=None, request_hash="h")
    room_now = await ports.stores.rooms.room_of(owner.id, room.id)
    assert (room_now.current_mode, room_now.pending_mode) == (Mode.ROUNDTABLE, Mode.MANUAL)


async def test_an_idempotency_key_is_taken_once_per_user(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, idempotency_key="k1", now=tick())
    found = await ports.turns.idempotent_turn(owner.id, "k1")
    assert (found.turn_id, found.session_id, found.status) == (turn.turn_id, session, TurnStatus.RUNNING)
    await ports.turns.finish_turn(turn.turn_id, TurnStatus.COMPLETED, tick(), None)
    with pytest.raises(IdempotencyConflict):
        await start_turn(ports.turns, owner.id, session, idempotency_key="k1", now=tick())
    other, _, elsewhere = await a_session(ports, "ada")
    assert await ports.turns.idempotent_turn(other.id, "k1") is None  # scoped per user
    await start_turn(ports.turns, other.id, elsewhere, idempotency_key="k1", now=tick())


async def test_a_turn_finishes_once_and_reads_back_with_its_steps_and_usage(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada", "bob")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    assert await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [row(turn, 0)], tick())
    assert await ports.turns.finish_turn(
        turn.turn_id, TurnStatus.PARTIAL, tick(), None, [event(turn, 1, "turn_completed")]
    )
    assert not await ports.turns.finish_turn(turn.turn_id, TurnStatus.FAILED, tick(), None)
    read = await ports.turns.turn_of(owner.id, turn.turn_id)
    assert (read.status, [s.agent_key for s in read.steps]) == (TurnStatus.PARTIAL, ["ada"])
    assert (read.usage.llm_calls, read.usage.input_tokens, read.usage.credits) == (1, 10, Decimal("0.0123"))
    assert await ports.turns.turn_of((await add_user(ports.stores)).id, turn.turn_id) is None
    assert (await ports.turns.context_of(turn.turn_id)) == turn


async def test_turns_of_a_session_page_by_index(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    for _ in range(3):
        turn = await start_turn(ports.turns, owner.id, session, now=tick())
        await ports.turns.finish_turn(turn.turn_id, TurnStatus.COMPLETED, tick(), None)
    first = await ports.turns.turns_of(owner.id, session, limit=2, after=None)
    assert [t.turn_index for t in first] == [0, 1]
    assert [t.turn_index for t in await ports.turns.turns_of(owner.id, session, limit=2, after=1)] == [2]


async def test_a_stale_turn_is_claimed_by_one_process_only(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    started = tick()
    turn = await start_turn(ports.turns, owner.id, session, now=started)
    stale = {s.turn_id: s for s in await ports.turns.stale_turns(started + timedelta(seconds=1))}
    assert stale[turn.turn_id].heartbeat_at == started
    assert await ports.turns.claim_turn(turn.turn_id, started, tick())
    assert not await ports.turns.claim_turn(turn.turn_id, started, tick())  # the heartbeat moved on
    later = tick()
    await ports.turns.heartbeat([turn.turn_id], later)
    assert turn.turn_id not in {s.turn_id for s in await ports.turns.stale_turns(later)}


# HistoryStore ---------------------------------------------------------------------------------------


async def test_history_holds_completed_answers_newest_first_within_the_bounds(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada", "bob")
    for _ in range(3):
        turn = await start_turn(ports.turns, owner.id, session, now=tick())
        failed = step(1, "bob", status=StepStatus.FAILED)
        manager = step(2, "ada", kind=StepKind.MANAGER)
        for done in (step(0, "ada"), failed, manager):
            await ports.recorder.commit_step(turn.turn_id, done, [], tick())
        await ports.turns.finish_turn(turn.turn_id, TurnStatus.PARTIAL, tick(), None)
    recent = await ports.history.recent(session, before_index=3, limit=2)
    assert [(h.turn_index, h.user_message, h.answers) for h in recent] == [
        (2, "go", [("Ada", "ada answers")]),
        (1, "go", [("Ada", "ada answers")]),
    ]
    assert [h.turn_index for h in await ports.history.recent(session, before_index=3, limit=9, after_index=0)] == [2, 1]


# StepRecorder ---------------------------------------------------------------------------------------


async def test_a_step_commits_once_with_its_ledger_rows_and_clears_its_intents(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    planned = intent(turn, 0)
    await ports.recorder.record_intent(planned)
    await ports.recorder.record_intent(planned)  # again: no second intent
    assert await ports.recorder.open_intents(turn.turn_id) == [planned]
    entry = row(turn, 0, call_id=planned.call_id)
    assert await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [entry], tick(), events=[event(turn, 1)])
    assert await ports.recorder.open_intents(turn.turn_id) == []
    assert await ports.recorder.committed_step(turn.turn_id, 0) == step(0, "ada")
    assert not await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [row(turn, 0)], tick())
    page = await ports.ledger.events(owner.id, turn_id=turn.turn_id, session_id=None, limit=10, after=None)
    assert [e.call_id for e in page.items] == [planned.call_id]  # the replay wrote nothing


async def test_a_call_id_seen_twice_refuses_the_whole_step(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada", "bob")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    call = uuid.uuid4()
    await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [row(turn, 0, call_id=call)], tick())
    with pytest.raises(Exception):  # noqa: B017 - a unique violation, loud (the fake raises its twin)
        await ports.recorder.commit_step(turn.turn_id, step(1, "bob"), [row(turn, 1, call_id=call)], tick())
    assert await ports.recorder.committed_step(turn.turn_id, 1) is None


async def test_leftover_intents_become_ledger_rows(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    cut = intent(turn, 0)
    await ports.recorder.record_intent(cut)
    failed = msgspec.structs.replace(row(turn, 0), status="rate_limited")
    await ports.recorder.settle_intent(cut.call_id, _attempt(cut.call_id))
    [open_one] = await ports.recorder.open_intents(turn.turn_id)
    assert open_one.outcome is not None and open_one.outcome.status == "rate_limited"
    await ports.recorder.cancel_intents(turn.turn_id, [msgspec.structs.replace(failed, call_id=cut.call_id)])
    assert await ports.recorder.open_intents(turn.turn_id) == []
    page = await ports.ledger.events(owner.id, turn_id=turn.turn_id, session_id=None, limit=10, after=None)
    assert [(e.call_id, e.status) for e in page.items] == [(cut.call_id, "rate_limited")]


def _attempt(call_id: uuid.UUID) -> Any:
    from application.ports.llm import LlmAttempt
    from domain.turns import TokenUsage

    error = StepError(code="provider_rate_limited", detail="slow down")
    return LlmAttempt(call_id=str(call_id), status="rate_limited", usage=TokenUsage(), latency_ms=4, error=error)


# TurnEventStore -------------------------------------------------------------------------------------


async def test_events_are_numbered_stored_once_and_read_by_their_owner(ports: TurnPorts) -> None:
    owner, room, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    assert await ports.events.next_seq(turn.turn_id) == 1
    await ports.events.append_events(turn.turn_id, [event(turn, 1, "turn_started"), event(turn, 2)], tick())
    await ports.events.append_events(turn.turn_id, [event(turn, 2), event(turn, 3)], tick())  # a retried write
    assert await ports.events.next_seq(turn.turn_id) == 4
    page = await ports.events.events_after(owner.id, turn.turn_id, 1, 10)
    assert ([e.seq for e in page.events], page.running) == ([2, 3], True)
    await ports.turns.finish_turn(turn.turn_id, TurnStatus.COMPLETED, tick(), None, [event(turn, 4, "turn_completed")])
    page = await ports.events.events_after(owner.id, turn.turn_id, 4, 10)
    assert (page.events, page.running) == ([], False)
    assert await ports.events.events_after((await add_user(ports.stores)).id, turn.turn_id, 0, 10) is None
    await ports.stores.rooms.delete_room(owner.id, room.id, tick())
    assert await ports.events.events_after(owner.id, turn.turn_id, 0, 10) is None


# UsageLedger and the conversation -------------------------------------------------------------------


async def test_the_ledger_pages_oldest_first_and_sums_by_model(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada", "bob", "cy")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    for index, alias in enumerate(["sim", "sim-slow", "sim"]):
        await ports.recorder.commit_step(turn.turn_id, step(index, "ada"), [row(turn, index, alias=alias)], tick())
    first = await ports.ledger.events(owner.id, turn_id=None, session_id=session, limit=2, after=None)
    rest = await ports.ledger.events(owner.id, turn_id=None, session_id=session, limit=2, after=first.next_after)
    assert [e.step_index for e in first.items + rest.items] == [0, 1, 2] and rest.next_after is None
    totals = {t.key: (t.llm_calls, t.input_tokens, t.credits) for t in await ports.ledger.summary(owner.id, "model")}
    assert totals == {"sim": (2, 20, Decimal("0.0246")), "sim-slow": (1, 10, Decimal("0.0123"))}


async def test_the_conversation_reads_back_the_turns_and_their_answers(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada", "bob")
    turn = await start_turn(ports.turns, owner.id, session, message="hello", now=tick())
    await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [], tick())
    await ports.recorder.commit_step(turn.turn_id, step(1, "bob", status=StepStatus.FAILED), [], tick())
    await ports.recorder.commit_step(turn.turn_id, step(2, "cy", kind=StepKind.MANAGER), [], tick())
    found = await ports.stores.sessions.messages_of(owner.id, session, limit=10, after=None)
    assert [(m.position, m.message.role, m.message.agent_key, m.message.content, m.message.status) for m in found] == [
        (-1, "user", None, "hello", "ok"),
        (0, "assistant", "ada", "ada answers", "ok"),
        (1, "assistant", "bob", "bob broke", "error"),
    ]
    later = await ports.stores.sessions.messages_of(owner.id, session, limit=10, after=(0, 0))
    assert [m.position for m in later] == [1]


# Session memory (SummaryStore, StepRecorder.commit_summary) ----------------------------------------


def a_summary(turn: TurnContext, through: int, text: str = "So far.") -> Summary:
    return Summary(
        id=uuid.uuid4(),
        session_id=turn.session_id,
        through_turn_index=through,
        summary_text=text,
        key_facts=["Fact: AMBER-7."],
        decisions=["PostgreSQL"],
        open_questions=[],
        action_items=["ship"],
        created_at=tick(),
        turn_id=turn.turn_id,
        turn_index=turn.turn_index,
    )


def audit(turn: TurnContext, call_id: uuid.UUID, index: int | None, actions: list[str] | None = None) -> ContextAudit:
    return ContextAudit(
        turn_id=turn.turn_id,
        call_id=call_id,
        step_index=index,
        model="sim",
        context_window=32_768,
        input_budget=29_082,
        estimated_tokens_before=900,
        estimated_tokens_after=400,
        history_turns=2,
        actions=actions or [],
        created_at=tick(),
    )


def summary_intent(turn: TurnContext) -> CallIntent:
    return msgspec.structs.replace(intent(turn, 0), step_index=None, agent_key=None, purpose="summary")


async def test_a_summary_commits_once_with_its_rows_and_audit_and_clears_only_its_intents(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    assert await ports.memory.latest_summary(session) is None
    planned, agents_intent = summary_intent(turn), intent(turn, 0)
    await ports.recorder.record_intent(planned)
    await ports.recorder.record_intent(agents_intent)
    paid = msgspec.structs.replace(
        row(turn, 0, call_id=planned.call_id), step_index=None, agent_key=None, purpose="summary"
    )
    written = a_summary(turn, 3)
    assert await ports.recorder.commit_summary(turn.turn_id, written, [paid], [audit(turn, planned.call_id, None)])
    assert await ports.recorder.open_intents(turn.turn_id) == [agents_intent]  # the step's intent stays
    assert await ports.memory.latest_summary(session) == written
    assert await ports.memory.summary_of(owner.id, session) == written
    # The same turn cannot write a second summary: the whole unit is refused, nothing is billed twice.
    again = msgspec.structs.replace(row(turn, 0), step_index=None, purpose="summary")
    assert not await ports.recorder.commit_summary(turn.turn_id, a_summary(turn, 4), [again], [])
    page = await ports.ledger.events(owner.id, turn_id=turn.turn_id, session_id=None, limit=10, after=None)
    assert [(e.call_id, e.step_index, e.purpose) for e in page.items] == [(planned.call_id, None, "summary")]


async def test_a_failed_summary_commits_its_paid_rows_without_a_summary(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    failed = msgspec.structs.replace(row(turn, 0), step_index=None, status="error", purpose="summary")
    assert await ports.recorder.commit_summary(turn.turn_id, None, [failed], [])
    assert await ports.memory.latest_summary(session) is None
    assert await ports.memory.summary_of(owner.id, session) is None
    page = await ports.ledger.events(owner.id, turn_id=turn.turn_id, session_id=None, limit=10, after=None)
    assert [e.status for e in page.items] == ["error"]


async def test_the_newest_summary_is_the_one_folding_most_and_only_its_owner_reads_it(ports: TurnPorts) -> None:
    owner, room, session = await a_session(ports, "ada")
    first = await start_turn(ports.turns, owner.id, session, now=tick())
    await ports.turns.finish_turn(first.turn_id, TurnStatus.COMPLETED, tick(), None)
    second = await start_turn(ports.turns, owner.id, session, now=tick())
    older, newer = a_summary(first, 3, "older"), a_summary(second, 11, "newer")
    assert await ports.recorder.commit_summary(second.turn_id, newer, [], [])
    assert await ports.recorder.commit_summary(first.turn_id, older, [], [])
    assert (await ports.memory.latest_summary(session)) == newer
    start = await ports.turns.turn_start(owner.id, session)
    assert start is not None and start.summary == newer  # the up-front budget check counts it
    stranger = await add_user(ports.stores)
    assert await ports.memory.summary_of(stranger.id, session) is None
    await ports.stores.rooms.delete_room(owner.id, room.id, tick())
    assert await ports.memory.summary_of(owner.id, session) is None


async def test_a_turns_context_audit_lists_each_call_in_order_for_its_owner_only(ports: TurnPorts) -> None:
    owner, _, session = await a_session(ports, "ada", "bob")
    turn = await start_turn(ports.turns, owner.id, session, now=tick())
    assert await ports.memory.context_of(owner.id, session, turn.turn_id) == []  # a turn with no call yet
    summary_call, ada_call, bob_call = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    audits = [audit(turn, summary_call, None), audit(turn, ada_call, 0, ["summarized"])]
    assert await ports.recorder.commit_summary(turn.turn_id, a_summary(turn, 0), [], audits[:1])
    assert await ports.recorder.commit_step(turn.turn_id, step(0, "ada"), [], tick(), audits=audits[1:])
    later = audit(turn, bob_call, 1, ["summarized", "pruned"])
    assert await ports.recorder.commit_step(turn.turn_id, step(1, "bob"), [], tick(), audits=[later])
    assert await ports.memory.context_of(owner.id, session, turn.turn_id) == [*audits, later]
    stranger = await add_user(ports.stores)
    assert await ports.memory.context_of(stranger.id, session, turn.turn_id) is None
    assert await ports.memory.context_of(owner.id, uuid.uuid4(), turn.turn_id) is None
