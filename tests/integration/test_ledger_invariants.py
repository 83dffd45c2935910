"""Invariants 1, 4 and 6 against the real schema: one row per paid attempt, committed with its step,
append-only, exact, UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest

from adapters.postgres.steps import PostgresStepRecorder
from adapters.postgres.turns import PostgresTurnStore
from adapters.system import SystemClock
from application.ports.turns import CallIntent, LedgerEntry
from domain.turns import StepKind, StepStatus, StepUsage, TurnStep
from tests.support.seed import seed_session
from tests.support.turns import start_turn

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entry(context, call_id: UUID, credits: str = "0.0123") -> LedgerEntry:
    return LedgerEntry(
        id=uuid4(),
        call_id=call_id,
        user_id=context.user_id,
        room_id=context.room_id,
        session_id=context.session_id,
        turn_id=context.turn_id,
        step_index=0,
        agent_key="ada",
        provider="simulated",
        model_alias="sim",
        provider_model="pantheon-sim",
        input_tokens_fresh=10,
        input_tokens_cached=0,
        output_tokens=5,
        total_tokens=15,
        oe_tokens=Decimal("8.5"),
        multiplier=Decimal("1.00"),
        credits_burned=Decimal(credits),
        provider_cost_usd=Decimal("0"),
        latency_ms=3,
        status="success",
        pricing_version="2026-02-20",
        request_id="r",
        created_at=NOW,
    )


STEP = TurnStep(
    index=0,
    kind=StepKind.AGENT,
    agent_key="ada",
    agent_name="Ada",
    model="sim",
    status=StepStatus.COMPLETED,
    content="hello",
    error=None,
    usage=StepUsage(input_tokens=10, output_tokens=5, credits=Decimal("0.0123")),
)


@pytest.fixture
async def turn_context(pool, database_url: str):
    user, _, session = seed_session(database_url)
    return await start_turn(PostgresTurnStore(pool), user, session, now=NOW)


def count(database_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchone()[0]


async def test_step_and_its_ledger_rows_commit_together(pool, database_url: str, turn_context) -> None:
    recorder = PostgresStepRecorder(pool)
    call_id = uuid4()
    await recorder.record_intent(
        CallIntent(
            call_id=call_id,
            turn_id=turn_context.turn_id,
            step_index=0,
            agent_key="ada",
            provider="simulated",
            model_alias="sim",
            provider_model="pantheon-sim",
            estimated_input_tokens=10,
            started_at=NOW,
        )
    )
    assert await recorder.commit_step(turn_context.turn_id, STEP, [entry(turn_context, call_id)], NOW)
    assert count(database_url, "SELECT count(*) FROM llm_call_events WHERE turn_id = %s", turn_context.turn_id) == 1
    assert count(database_url, "SELECT count(*) FROM llm_call_intents WHERE turn_id = %s", turn_context.turn_id) == 0
    # A replay of the same step writes nothing: no second step row, no second ledger row.
    assert not await recorder.commit_step(turn_context.turn_id, STEP, [entry(turn_context, uuid4())], NOW)
    assert count(database_url, "SELECT count(*) FROM llm_call_events WHERE turn_id = %s", turn_context.turn_id) == 1
    assert (await recorder.committed_step(turn_context.turn_id, 0)).content == "hello"


async def test_a_call_id_can_never_be_inserted_twice(pool, database_url: str, turn_context) -> None:
    recorder = PostgresStepRecorder(pool)
    call_id = uuid4()
    assert await recorder.commit_step(turn_context.turn_id, STEP, [entry(turn_context, call_id)], NOW)
    second = TurnStep(
        index=1,
        kind=StepKind.AGENT,
        agent_key="ada",
        agent_name="Ada",
        model="sim",
        status=StepStatus.COMPLETED,
        content="again",
        error=None,
        usage=StepUsage(),
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        await recorder.commit_step(turn_context.turn_id, second, [entry(turn_context, call_id)], NOW)
    # All or nothing: the step whose ledger row was refused was not written either.
    assert await recorder.committed_step(turn_context.turn_id, 1) is None
    assert count(database_url, "SELECT count(*) FROM llm_call_events WHERE call_id = %s", call_id) == 1


async def test_ledger_is_append_only_but_outlives_chat(pool, database_url: str, turn_context) -> None:
    recorder = PostgresStepRecorder(pool)
    await recorder.commit_step(turn_context.turn_id, STEP, [entry(turn_context, uuid4(), "0.0005")], NOW)
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("UPDATE llm_call_events SET credits_burned = 0 WHERE turn_id = %s", (turn_context.turn_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.RestrictViolation):
            conn.execute("DELETE FROM llm_call_events WHERE turn_id = %s", (turn_context.turn_id,))
        conn.rollback()
        # Purging the chat (a hard delete of the room) keeps the money rows, detached from the chat.
        conn.execute("DELETE FROM rooms WHERE id = %s", (turn_context.room_id,))
        conn.commit()
        row = conn.execute(
            "SELECT room_id, session_id, turn_id, credits_burned, created_at FROM llm_call_events WHERE user_id = %s",
            (turn_context.user_id,),
        ).fetchone()
    assert row[:3] == (None, None, None)
    assert row[3] == Decimal("0.0005")
    assert row[4].utcoffset().total_seconds() == 0


def test_the_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset().total_seconds() == 0


async def test_money_columns_round_trip_exactly(database_url: str) -> None:
    # NUMERIC(20,4) credits and NUMERIC(20,8) USD: a value survives the round trip digit for digit.
    with psycopg.connect(database_url) as conn:
        value = conn.execute(
            "SELECT %s::numeric(20,4), %s::numeric(20,8)", (Decimal("12345678.1235"), Decimal("0.00000001"))
        ).fetchone()
    assert value == (Decimal("12345678.1235"), Decimal("0.00000001"))
