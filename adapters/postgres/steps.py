"""Recording paid steps: the step row and its ledger rows commit together (invariant 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.events import events_json
from adapters.postgres.turns import STEP_COLUMNS, to_step
from adapters.postgres.wallet import SETTLE_CTES, SETTLE_TURN, settle_params
from application.ports.events import TurnEvent
from application.ports.llm import LlmAttempt
from application.ports.turns import CallIntent, ContextAudit, LedgerEntry
from domain.memory import Summary
from domain.turns import TurnStep

SELECT_STEP = f"""
SELECT {STEP_COLUMNS} FROM turn_steps WHERE turn_id = %(turn_id)s AND step_index = %(step_index)s
"""
INSERT_INTENT = """
INSERT INTO llm_call_intents (call_id, turn_id, step_index, agent_key, provider, model_alias, provider_model,
                              estimated_input_tokens, started_at, purpose)
VALUES (%(call_id)s, %(turn_id)s, %(step_index)s, %(agent_key)s, %(provider)s, %(model_alias)s, %(provider_model)s,
        %(estimated_input_tokens)s, %(started_at)s, %(purpose)s)
ON CONFLICT (call_id) DO NOTHING
"""
SETTLE_INTENT = "UPDATE llm_call_intents SET outcome = %(outcome)s::jsonb WHERE call_id = %(call_id)s"
INSERT_AUDITS = """
    INSERT INTO turn_context_audit (turn_id, call_id, step_index, model, context_window, input_budget,
                                    estimated_tokens_before, estimated_tokens_after, history_turns, actions,
                                    created_at)
    SELECT * FROM jsonb_to_recordset(%(audits)s::jsonb) AS a(
        turn_id uuid, call_id uuid, step_index integer, model text, context_window integer, input_budget integer,
        estimated_tokens_before integer, estimated_tokens_after integer, history_turns integer, actions jsonb,
        created_at timestamptz)
    ON CONFLICT (call_id) DO NOTHING
"""
LEDGER_COLUMNS = """id, call_id, user_id, room_id, session_id, turn_id, step_index, agent_key,
                                 provider, model_alias, provider_model, input_tokens_fresh, input_tokens_cached,
                                 output_tokens, total_tokens, oe_tokens, multiplier, credits_burned,
                                 provider_cost_usd, latency_ms, status, usage_estimated, error_code,
                                 pricing_version, request_id, created_at, purpose"""
LEDGER_RECORDSET = """jsonb_to_recordset(%(ledger)s::jsonb) AS r(
        id uuid, call_id uuid, user_id uuid, room_id uuid, session_id uuid, turn_id uuid, step_index integer,
        agent_key text, provider text, model_alias text, provider_model text, input_tokens_fresh integer,
        input_tokens_cached integer, output_tokens integer, total_tokens integer, oe_tokens numeric,
        multiplier numeric, credits_burned numeric, provider_cost_usd numeric, latency_ms integer, status text,
        usage_estimated boolean, error_code text, pricing_version text, request_id text, created_at timestamptz,
        purpose text)"""
# A step, its ledger rows (one per attempt), the context audit of each of its calls, the removal
# of its intents and the turn's heartbeat: one statement, so one atomic unit and one round trip
# (invariant 1). A step committed twice violates turn_steps' primary key and writes nothing at all; a
# call_id seen twice violates the ledger's unique key the same way.
STEP_CTES = f"""
WITH step AS (
    INSERT INTO turn_steps (id, turn_id, step_index, kind, agent_key, agent_name, model_alias, status, content,
                            error, input_tokens, cached_input_tokens, output_tokens, credits, created_at, decision,
                            instruction)
    VALUES (%(id)s, %(turn_id)s, %(step_index)s, %(kind)s, %(agent_key)s, %(agent_name)s, %(model)s, %(status)s,
            %(content)s, %(error)s::jsonb, %(input_tokens)s, %(cached_input_tokens)s, %(output_tokens)s,
            %(credits)s, %(at)s, %(decision)s::jsonb, %(instruction)s)
), ledger AS (
    INSERT INTO llm_call_events ({LEDGER_COLUMNS})
    SELECT * FROM {LEDGER_RECORDSET}
), audit AS (
    {INSERT_AUDITS}
), intents AS (
    DELETE FROM llm_call_intents WHERE turn_id = %(turn_id)s AND step_index = %(step_index)s
), events AS (
    INSERT INTO turn_events (turn_id, seq, type, payload, created_at)
    SELECT %(turn_id)s, e.seq, e.type, e.data, %(at)s
    FROM jsonb_to_recordset(%(events)s::jsonb) AS e(seq integer, type text, data jsonb)
    ON CONFLICT (turn_id, seq) DO NOTHING
)"""
HEARTBEAT_TAIL = """
UPDATE turns SET heartbeat_at = %(at)s WHERE id = %(turn_id)s AND status = 'running'
"""
COMMIT_STEP = STEP_CTES + HEARTBEAT_TAIL
COMMIT_STEP_SETTLED = STEP_CTES + ", " + SETTLE_CTES + HEARTBEAT_TAIL
# The summary a turn wrote (none when its call failed), the ledger rows of its summary call, their audit
# and the removal of their intents: one statement. A turn's second summary violates the unique index
# on session_summaries.turn_id and writes nothing at all.
SUMMARY_CTES = f"""
WITH summary AS (
    INSERT INTO session_summaries (id, session_id, through_turn_index, summary_text, key_facts, decisions,
                                   open_questions, action_items, created_at, turn_id, turn_index)
    SELECT id, session_id, through_turn_index, summary_text, key_facts, decisions, open_questions, action_items,
           created_at, turn_id, turn_index
    FROM jsonb_to_recordset(%(summary)s::jsonb) AS s(
        id uuid, session_id uuid, through_turn_index integer, summary_text text, key_facts jsonb, decisions jsonb,
        open_questions jsonb, action_items jsonb, created_at timestamptz, turn_id uuid, turn_index integer)
), ledger AS (
    INSERT INTO llm_call_events ({LEDGER_COLUMNS})
    SELECT * FROM {LEDGER_RECORDSET}
), audit AS (
    {INSERT_AUDITS}
)"""
SUMMARY_TAIL = """
DELETE FROM llm_call_intents WHERE turn_id = %(turn_id)s AND step_index IS NULL
"""
COMMIT_SUMMARY = SUMMARY_CTES + SUMMARY_TAIL
# Both with the wallet's settlement (adapters/postgres/wallet.py): the rows' debits and the release of
# their reservations commit with the ledger rows they settle, or not at all (invariant 8).
COMMIT_SUMMARY_SETTLED = SUMMARY_CTES + ", " + SETTLE_CTES + SUMMARY_TAIL
# No ON CONFLICT here: a call_id seen twice must fail loudly, never be dropped or counted twice.
INSERT_LEDGER = """
INSERT INTO llm_call_events (id, call_id, user_id, room_id, session_id, turn_id, step_index, agent_key, provider,
                             model_alias, provider_model, input_tokens_fresh, input_tokens_cached, output_tokens,
                             total_tokens, oe_tokens, multiplier, credits_burned, provider_cost_usd, latency_ms,
                             status, usage_estimated, error_code, pricing_version, request_id, created_at, purpose)
VALUES (%(id)s, %(call_id)s, %(user_id)s, %(room_id)s, %(session_id)s, %(turn_id)s, %(step_index)s, %(agent_key)s,
        %(provider)s, %(model_alias)s, %(provider_model)s, %(input_tokens_fresh)s, %(input_tokens_cached)s,
        %(output_tokens)s, %(total_tokens)s, %(oe_tokens)s, %(multiplier)s, %(credits_burned)s,
        %(provider_cost_usd)s, %(latency_ms)s, %(status)s, %(usage_estimated)s, %(error_code)s,
        %(pricing_version)s, %(request_id)s, %(created_at)s, %(purpose)s)
"""
SELECT_INTENTS = """
SELECT call_id, turn_id, step_index, agent_key, provider, model_alias, provider_model, estimated_input_tokens,
       started_at, outcome, purpose
FROM llm_call_intents WHERE turn_id = %(turn_id)s ORDER BY started_at
"""
DELETE_INTENT = "DELETE FROM llm_call_intents WHERE call_id = %(call_id)s"

_json = msgspec.json.Encoder()


def step_params(turn_id: UUID, step: TurnStep, row_id: UUID, at: datetime) -> dict[str, Any]:
    return {
        "id": row_id,
        "turn_id": turn_id,
        "step_index": step.index,
        "kind": step.kind.value,
        "agent_key": step.agent_key,
        "agent_name": step.agent_name,
        "model": step.model,
        "status": step.status.value,
        "content": step.content,
        "error": _json.encode(step.error).decode() if step.error else None,
        "input_tokens": step.usage.input_tokens,
        "cached_input_tokens": step.usage.cached_input_tokens,
        "output_tokens": step.usage.output_tokens,
        "credits": step.usage.credits,
        "at": at,
        "decision": _json.encode(step.decision).decode() if step.decision else None,
        "instruction": step.instruction,
    }


class PostgresStepRecorder:
    def __init__(self, pool: AsyncConnectionPool, *, wallets: bool = True) -> None:
        # wallets=False (PANTHEON_WALLETS=false) only exists so the bench can measure what settling costs.
        self._pool, self._wallets = pool, wallets

    async def committed_step(self, turn_id: UUID, step_index: int) -> TurnStep | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(SELECT_STEP, {"turn_id": turn_id, "step_index": step_index})
            row = await cur.fetchone()
        return to_step(row) if row else None

    async def record_intent(self, intent: CallIntent) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(INSERT_INTENT, msgspec.structs.asdict(intent))

    async def settle_intent(self, call_id: UUID, outcome: LlmAttempt) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(SETTLE_INTENT, {"call_id": call_id, "outcome": _json.encode(outcome).decode()})

    async def commit_step(
        self,
        turn_id: UUID,
        step: TurnStep,
        ledger: list[LedgerEntry],
        at: datetime,
        audits: list[ContextAudit] | None = None,
        events: list[TurnEvent] | None = None,
    ) -> bool:
        row_id = uuid4()  # the step row's own id, shown as the message id in GET .../messages
        params = step_params(turn_id, step, row_id, at) | {
            "ledger": _json.encode(ledger).decode(),
            "audits": _json.encode(audits or []).decode(),
            "events": events_json(events or []),
        }
        if self._wallets:
            params |= settle_params(turn_id, "step", [e.credits_burned for e in ledger], at, step.index)
        try:
            async with self._pool.connection() as conn:
                await conn.execute(COMMIT_STEP_SETTLED if self._wallets else COMMIT_STEP, params)
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "turn_steps_pkey":
                return False  # already committed (a replay after a crash): the whole unit is refused
            raise
        return True

    async def commit_summary(
        self, turn_id: UUID, summary: Summary | None, ledger: list[LedgerEntry], audits: list[ContextAudit]
    ) -> bool:
        params = {
            "turn_id": turn_id,
            "summary": _json.encode([summary] if summary else []).decode(),
            "ledger": _json.encode(ledger).decode(),
            "audits": _json.encode(audits).decode(),
        }
        at = max((e.created_at for e in ledger), default=summary.created_at if summary else None)
        settled = self._wallets and at is not None
        if settled:
            params |= settle_params(turn_id, "summary", [e.credits_burned for e in ledger], at)  # type: ignore[arg-type]
        try:
            async with self._pool.connection() as conn:
                await conn.execute(COMMIT_SUMMARY_SETTLED if settled else COMMIT_SUMMARY, params)
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "session_summaries_turn_idx":
                return False
            raise
        return True

    async def open_intents(self, turn_id: UUID) -> list[CallIntent]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_INTENTS, {"turn_id": turn_id})).fetchall()
        return [msgspec.convert(r, CallIntent, strict=False) for r in rows]

    async def cancel_intents(self, turn_id: UUID, ledger: list[LedgerEntry]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(INSERT_LEDGER, [msgspec.structs.asdict(e) for e in ledger])
            for entry in ledger:
                await conn.execute(DELETE_INTENT, {"call_id": entry.call_id})
            at = max((e.created_at for e in ledger), default=None)
            if self._wallets and at is not None:  # the rows' debits, every reservation of the turn released
                params = settle_params(turn_id, "turn", [e.credits_burned for e in ledger], at)
                await conn.execute(SETTLE_TURN, params | {"ledger": _json.encode(ledger).decode()})
