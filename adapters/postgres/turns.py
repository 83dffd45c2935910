"""Turns in PostgreSQL: allocation under the session row lock, read models, and crash recovery queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.events import events_json
from adapters.postgres.wallet import COUNT_RUNNING, HOLD, LOCK_CREDITS, to_credits
from application.ports.events import TurnEvent
from application.ports.turns import HistoryTurn, IdempotentTurn, StaleTurn, TurnContext, TurnStart
from application.ports.wallet import TurnGate
from domain.decisions import Decision
from domain.errors import IdempotencyConflict, TurnInProgress, insufficient_credits, too_many_running
from domain.model import Mode
from domain.orchestration import orchestration_of
from domain.stopping import TurnCaps
from domain.turns import (
    PlannedStep,
    RosterEntry,
    StepError,
    StepKind,
    StepStatus,
    StepUsage,
    Turn,
    TurnStatus,
    TurnStep,
    TurnUsage,
)
from domain.wallet import month_of

# A turn starts with one read (session, room, busy flag, roster) and one write. The write allocates
# `turn_index` by compare-and-set (UPDATE ... WHERE turn_count = the index read): gapless, and a
# concurrent start makes it match no row, which answers 409 (invariant 2). The partial unique index
# "one running turn per session" backs this up in the schema.
READ_TURN_START = """
SELECT s.room_id, s.turn_count AS next_index, r.current_mode, r.pending_mode, r.goal AS room_goal, r.manager_model,
       jsonb_strip_nulls(jsonb_build_object('max_credits', r.max_credits_per_turn::text,
                                            'max_agent_calls', r.max_agent_calls_per_turn,
                                            'max_seconds', r.max_turn_seconds)) AS caps,
       EXISTS (SELECT 1 FROM turns t WHERE t.session_id = s.id AND t.status = 'running') AS busy,
       coalesce((SELECT jsonb_agg(jsonb_build_object('agent_key', a.agent_key, 'name', a.name,
                                                     'model', a.model_alias, 'role_prompt', a.role_prompt,
                                                     'position', a.position)
                                  ORDER BY a.position, a.agent_key COLLATE "C")
                 FROM agents a WHERE a.room_id = s.room_id), '[]') AS roster,
       (SELECT to_jsonb(ss) FROM session_summaries ss WHERE ss.session_id = s.id
        ORDER BY ss.through_turn_index DESC, ss.created_at DESC LIMIT 1) AS summary
FROM sessions s JOIN rooms r ON r.id = s.room_id
WHERE s.id = %(session_id)s AND s.user_id = %(user_id)s AND r.deleted_at IS NULL
"""
# The room records the mode the turn runs in; its pending mode is cleared only if it is still the one
# this turn applied (a request made since the read waits for the next turn).
ALLOCATE_TURN = """
WITH bump AS (
    UPDATE sessions SET turn_count = turn_count + 1
    WHERE id = %(session_id)s AND turn_count = %(turn_index)s
    RETURNING id
), room AS (
    UPDATE rooms SET current_mode = %(mode)s,
                     pending_mode = CASE WHEN pending_mode IS NOT DISTINCT FROM %(applied_pending)s::text
                                         THEN NULL ELSE pending_mode END
    WHERE id = %(room_id)s AND EXISTS (SELECT 1 FROM bump)
      AND (current_mode <> %(mode)s OR pending_mode = %(applied_pending)s::text)  -- else nothing changes
)
INSERT INTO turns (id, session_id, user_id, room_id, turn_index, mode, status, user_message, roster, plan,
                   pricing_version, idempotency_key, request_hash, created_at, heartbeat_at, manager_model, caps)
SELECT %(id)s, %(session_id)s, %(user_id)s, %(room_id)s, %(turn_index)s, %(mode)s, 'running', %(message)s,
       %(roster)s::jsonb, %(plan)s::jsonb, %(pricing_version)s, %(idempotency_key)s, %(request_hash)s, %(now)s,
       %(now)s, %(manager_model)s, %(caps)s::jsonb
FROM bump
"""
SELECT_IDEMPOTENT = """
SELECT id AS turn_id, session_id, request_hash, status FROM turns
WHERE user_id = %(user_id)s AND idempotency_key = %(key)s
"""
SELECT_CONTEXT = """
SELECT t.id, t.user_id, t.room_id, t.session_id, t.turn_index, t.mode, t.user_message, r.goal, t.roster, t.plan,
       t.pricing_version, t.created_at, t.manager_model, t.caps
FROM turns t JOIN rooms r ON r.id = t.room_id WHERE t.id = %(turn_id)s
"""
# A session's earlier turns as later agents see them (completed answers only), newest first.
SELECT_HISTORY = """
SELECT t.turn_index, t.user_message,
       coalesce((SELECT jsonb_agg(jsonb_build_array(st.agent_name, st.content) ORDER BY st.step_index)
                 FROM turn_steps st
                 WHERE st.turn_id = t.id AND st.status = 'completed' AND st.kind <> 'manager'), '[]') AS answers
FROM turns t
WHERE t.session_id = %(session_id)s AND t.turn_index < %(before)s AND t.turn_index > %(after)s
ORDER BY t.turn_index DESC LIMIT %(limit)s
"""


# The final mark and the turn's last events (its terminal one among them) in one statement; nothing is
# written when the turn was already finished elsewhere, nor when a stop was stored that the caller did not
# know of (it marks no stop reason) on a turn that ran: then the turn ends `stopped` after all.
FINISH_TURN = """
WITH finished AS (
    UPDATE turns SET status = %(status)s, completed_at = %(at)s, heartbeat_at = %(at)s, error = %(error)s::jsonb,
                     stop_reason = %(stop_reason)s
    WHERE id = %(turn_id)s AND status = 'running'
      AND (stop_mode IS NULL OR %(stop_reason)s::text IS NOT NULL OR %(status)s = 'failed')
    RETURNING id
), events AS (
    INSERT INTO turn_events (turn_id, seq, type, payload, created_at)
    SELECT f.id, e.seq, e.type, e.data, %(at)s
    FROM finished f, jsonb_to_recordset(%(events)s::jsonb) AS e(seq integer, type text, data jsonb)
    ON CONFLICT (turn_id, seq) DO NOTHING
)
SELECT count(*) AS finished FROM finished
"""
TURN_COLUMNS = """
SELECT t.id, t.session_id, t.turn_index, t.mode, t.status, t.user_message, t.created_at, t.completed_at,
       t.stop_reason, u.llm_calls, u.input_tokens, u.output_tokens, u.credits
FROM turns t
JOIN rooms r ON r.id = t.room_id AND r.deleted_at IS NULL
CROSS JOIN LATERAL (
    SELECT count(*) AS llm_calls,
           coalesce(sum(e.input_tokens_fresh + e.input_tokens_cached), 0) AS input_tokens,
           coalesce(sum(e.output_tokens), 0) AS output_tokens,
           coalesce(sum(e.credits_burned), 0) AS credits
    FROM llm_call_events e WHERE e.turn_id = t.id
) u
"""
SELECT_TURN = TURN_COLUMNS + "WHERE t.id = %(turn_id)s AND t.user_id = %(user_id)s"
SELECT_TURNS_OF_SESSION = (
    TURN_COLUMNS
    + """WHERE t.session_id = %(session_id)s AND t.user_id = %(user_id)s AND t.turn_index > %(after)s
ORDER BY t.turn_index LIMIT %(limit)s"""
)
# The columns `to_step` reads, shared by every query of steps.
STEP_COLUMNS = """step_index, kind, agent_key, agent_name, model_alias, status, content, error,
       input_tokens, cached_input_tokens, output_tokens, credits, decision, instruction"""
SELECT_STEPS = f"""
SELECT turn_id, {STEP_COLUMNS}
FROM turn_steps WHERE turn_id = ANY(%(turn_ids)s) ORDER BY turn_id, step_index
"""
SELECT_STALE = """
SELECT id AS turn_id, created_at, heartbeat_at FROM turns
WHERE status = 'running' AND heartbeat_at < %(before)s ORDER BY created_at
"""
CLAIM_TURN = """
UPDATE turns SET heartbeat_at = %(now)s
WHERE id = %(turn_id)s AND status = 'running' AND heartbeat_at = %(seen)s
"""
HEARTBEAT = "UPDATE turns SET heartbeat_at = %(now)s WHERE id = ANY(%(turn_ids)s) AND status = 'running'"

_json = msgspec.json.Encoder()


def to_step(row: dict[str, Any]) -> TurnStep:
    error = row["error"]
    return TurnStep(
        index=row["step_index"],
        kind=StepKind(row["kind"]),
        agent_key=row["agent_key"],
        agent_name=row["agent_name"],
        model=row["model_alias"],
        status=StepStatus(row["status"]),
        content=row["content"],
        error=StepError(code=error["code"], detail=error["detail"]) if error else None,
        decision=msgspec.convert(row["decision"], Decision) if row["decision"] else None,  # type: ignore[arg-type]
        instruction=row["instruction"],
        usage=StepUsage(
            input_tokens=row["input_tokens"],
            cached_input_tokens=row["cached_input_tokens"],
            output_tokens=row["output_tokens"],
            credits=row["credits"],
        ),
    )


def to_turn(row: dict[str, Any], steps: list[TurnStep]) -> Turn:
    return Turn(
        id=row["id"],
        session_id=row["session_id"],
        turn_index=row["turn_index"],
        mode=Mode(row["mode"]),
        status=TurnStatus(row["status"]),
        user_message=row["user_message"],
        steps=steps,
        usage=TurnUsage(
            llm_calls=row["llm_calls"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            credits=row["credits"],
        ),
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        stop_reason=row["stop_reason"],
        orchestration=orchestration_of(Mode(row["mode"]), steps),
    )


async def _pass_gate(conn: AsyncConnection[Any], turn: TurnContext, gate: TurnGate) -> None:
    """Under the user's wallet row lock (held to the end of the allocating transaction, so that turn
    starts of one user are serialized across processes): the running-turn limit, then the opening hold."""
    params = {
        "user_id": turn.user_id,
        "month": month_of(turn.created_at),
        "turn_id": turn.turn_id,
        "amount": gate.hold,
        "at": turn.created_at,
        "max_running": gate.max_running,
    }
    credits = to_credits(await (await conn.execute(LOCK_CREDITS, params)).fetchone())
    if gate.hold is not None and credits.available < gate.hold:
        raise insufficient_credits(gate.hold)
    counted = await (await conn.execute(HOLD if gate.hold is not None else COUNT_RUNNING, params)).fetchone()
    if counted["running"] >= gate.max_running:  # type: ignore[index]
        raise too_many_running(gate.max_running)  # rolls back: nothing was held either


class PostgresTurnStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def idempotent_turn(self, user_id: UUID, key: str) -> IdempotentTurn | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_IDEMPOTENT, {"user_id": user_id, "key": key})).fetchone()
        return msgspec.convert(row, IdempotentTurn) if row else None

    async def turn_start(self, user_id: UUID, session_id: UUID) -> TurnStart | None:
        async with self._pool.connection() as conn:
            read = {"session_id": session_id, "user_id": user_id}
            row = await (await conn.execute(READ_TURN_START, read)).fetchone()
        # The summary comes as JSON: its timestamps are strings, converted like any JSON input.
        return msgspec.convert(row, TurnStart, strict=False) if row else None

    async def allocate(
        self,
        turn: TurnContext,
        *,
        applied_pending: Mode | None,
        idempotency_key: str | None,
        request_hash: str,
        gate: TurnGate | None = None,
    ) -> None:
        params = {
            "id": turn.turn_id,
            "session_id": turn.session_id,
            "user_id": turn.user_id,
            "room_id": turn.room_id,
            "turn_index": turn.turn_index,
            "mode": turn.mode.value,
            "applied_pending": applied_pending.value if applied_pending else None,
            "message": turn.user_message,
            "roster": _json.encode(turn.roster).decode(),
            "plan": _json.encode(turn.plan).decode(),
            "pricing_version": turn.pricing_version,
            "idempotency_key": idempotency_key,
            "request_hash": request_hash,
            "now": turn.created_at,
            "manager_model": turn.manager_model,
            "caps": _json.encode(turn.caps).decode(),
        }
        try:
            async with self._pool.connection() as conn, conn.transaction():
                if gate is not None:
                    await _pass_gate(conn, turn, gate)
                cur = await conn.execute(ALLOCATE_TURN, params)
                if cur.rowcount != 1:  # another turn took this index since the start was read
                    raise TurnInProgress("Another turn of this session is still running.")  # rolls the hold back
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "turns_user_idempotency_key":
                raise IdempotencyConflict("This Idempotency-Key is already in use.") from exc
            raise TurnInProgress("Another turn of this session is still running.") from exc

    async def context_of(self, turn_id: UUID) -> TurnContext | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(SELECT_CONTEXT, {"turn_id": turn_id})).fetchone()
        if row is None:
            return None
        return TurnContext(
            turn_id=row["id"],
            user_id=row["user_id"],
            room_id=row["room_id"],
            session_id=row["session_id"],
            turn_index=row["turn_index"],
            mode=Mode(row["mode"]),
            user_message=row["user_message"],
            room_goal=row["goal"],
            roster=msgspec.convert(row["roster"], list[RosterEntry]),
            plan=msgspec.convert(row["plan"], list[PlannedStep]),
            pricing_version=row["pricing_version"],
            created_at=row["created_at"],
            manager_model=row["manager_model"],
            caps=msgspec.convert(row["caps"], TurnCaps),
        )

    async def finish_turn(
        self,
        turn_id: UUID,
        status: TurnStatus,
        at: datetime,
        error: StepError | None,
        events: list[TurnEvent] | None = None,
        stop_reason: str | None = None,
    ) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                FINISH_TURN,
                {
                    "stop_reason": stop_reason,
                    "turn_id": turn_id,
                    "status": status.value,
                    "at": at,
                    "error": _json.encode(error).decode() if error else None,
                    "events": events_json(events or []),
                },
            )
            row = await cur.fetchone()
        return bool(row and row["finished"])

    async def turn_of(self, user_id: UUID, turn_id: UUID) -> Turn | None:
        turns = await self._turns(SELECT_TURN, {"turn_id": turn_id, "user_id": user_id})
        return turns[0] if turns else None

    async def turns_of(self, user_id: UUID, session_id: UUID, *, limit: int, after: int | None) -> list[Turn]:
        params = {"session_id": session_id, "user_id": user_id, "limit": limit, "after": -1 if after is None else after}
        return await self._turns(SELECT_TURNS_OF_SESSION, params)

    async def _turns(self, sql: str, params: dict[str, Any]) -> list[Turn]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
            if not rows:
                return []
            cur = await conn.execute(SELECT_STEPS, {"turn_ids": [r["id"] for r in rows]})
            step_rows = await cur.fetchall()
        steps: dict[UUID, list[TurnStep]] = {}
        for step_row in step_rows:
            steps.setdefault(step_row["turn_id"], []).append(to_step(step_row))
        return [to_turn(r, steps.get(r["id"], [])) for r in rows]

    async def stale_turns(self, heartbeat_before: datetime) -> list[StaleTurn]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_STALE, {"before": heartbeat_before})).fetchall()
        return [StaleTurn(**r) for r in rows]

    async def claim_turn(self, turn_id: UUID, seen_heartbeat: datetime, now: datetime) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute(CLAIM_TURN, {"turn_id": turn_id, "seen": seen_heartbeat, "now": now})
            return cur.rowcount == 1

    async def heartbeat(self, turn_ids: list[UUID], now: datetime) -> None:
        if turn_ids:
            async with self._pool.connection() as conn:
                await conn.execute(HEARTBEAT, {"turn_ids": turn_ids, "now": now})


class PostgresHistoryStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def recent(
        self, session_id: UUID, *, before_index: int, limit: int, after_index: int = -1
    ) -> list[HistoryTurn]:
        params = {"session_id": session_id, "before": before_index, "after": after_index, "limit": limit}
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(SELECT_HISTORY, params)).fetchall()
        return [
            HistoryTurn(
                turn_index=r["turn_index"],
                user_message=r["user_message"],
                answers=[(name or "agent", content) for name, content in r["answers"]],
            )
            for r in rows
        ]
