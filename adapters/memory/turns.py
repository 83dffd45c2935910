"""In-process fakes of the turn ports: turns, history, steps and their ledger rows, events, the usage
ledger, and a plain sequential runner. They keep their rows in the `MemoryDatabase` the other fakes
use, so a conversation written through them reads back through MemorySessionStore as through SQL; the
shared port suite (tests/integration/ports/) holds them to the PostgreSQL adapters' behaviour."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import msgspec

from adapters.memory.stores import MemoryDatabase, StepRow, TurnRow
from application.ports.events import EventPage, TurnEvent
from application.ports.llm import LlmAttempt
from application.ports.turns import (
    CallIntent,
    ContextAudit,
    HistoryTurn,
    IdempotentTurn,
    LedgerEntry,
    NextStep,
    StaleTurn,
    StepExecutor,
    TurnContext,
    TurnStart,
)
from application.ports.usage import GroupBy, UsagePage, UsageTotals
from application.ports.wallet import TurnGate
from domain.errors import IdempotencyConflict, TurnInProgress
from domain.memory import Summary
from domain.model import Mode
from domain.orchestration import orchestration_of
from domain.stopping import caps_of
from domain.turns import RosterEntry, StepError, StepKind, StepStatus, Turn, TurnStatus, TurnStep, TurnUsage

ZERO_USD = Decimal("0")


class MemoryTurnStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def idempotent_turn(self, user_id: UUID, key: str) -> IdempotentTurn | None:
        for row in self._db.turns.values():
            if row.context.user_id == user_id and row.idempotency_key == key:
                return IdempotentTurn(
                    turn_id=row.context.turn_id,
                    session_id=row.context.session_id,
                    request_hash=row.request_hash,
                    status=row.status,
                )
        return None

    async def turn_start(self, user_id: UUID, session_id: UUID) -> TurnStart | None:
        db = self._db
        session = db.sessions.get(session_id)
        room = db.live_room(user_id, session.room_id) if session and session.user_id == user_id else None
        if session is None or room is None:
            return None
        agents = sorted(
            (a for a in db.agents.values() if a.room_id == room.id), key=lambda a: (a.position, a.agent_key)
        )
        return TurnStart(
            room_id=room.id,
            next_index=session.turn_count,
            busy=any(r.context.session_id == session_id and r.status is TurnStatus.RUNNING for r in db.turns.values()),
            current_mode=room.current_mode,
            pending_mode=room.pending_mode,
            room_goal=room.goal,
            manager_model=room.manager_model,
            caps=caps_of(room),
            roster=[
                RosterEntry(
                    agent_key=a.agent_key, name=a.name, model=a.model, role_prompt=a.role_prompt, position=a.position
                )
                for a in agents
            ],
            summary=max(
                (s for s in db.summaries if s.session_id == session_id),
                key=lambda s: (s.through_turn_index, s.created_at),
                default=None,
            ),
        )

    async def allocate(
        self,
        turn: TurnContext,
        *,
        applied_pending: Mode | None,
        idempotency_key: str | None,
        request_hash: str,
        gate: TurnGate | None = None,
    ) -> None:
        db = self._db
        session = db.sessions[turn.session_id]
        running = any(
            r.context.session_id == turn.session_id and r.status is TurnStatus.RUNNING for r in db.turns.values()
        )
        if gate is not None:
            users_running = sum(
                1 for r in db.turns.values() if r.context.user_id == turn.user_id and r.status is TurnStatus.RUNNING
            )
            db.wallets.pass_gate(turn.user_id, turn.turn_id, gate, users_running, turn.created_at)
        try:
            if session.turn_count != turn.turn_index or running:  # the compare-and-set, and the unique index
                raise TurnInProgress("Another turn of this session is still running.")
            if idempotency_key is not None and await self.idempotent_turn(turn.user_id, idempotency_key):
                raise IdempotencyConflict("This Idempotency-Key is already in use.")
        except (TurnInProgress, IdempotencyConflict):
            if gate is not None and gate.hold is not None:  # the transaction's rollback: no hold stays
                db.wallets.settle(turn.turn_id, "turn", [], turn.created_at, turn.user_id)
            raise
        db.sessions[session.id] = msgspec.structs.replace(session, turn_count=session.turn_count + 1)
        room = db.rooms[turn.room_id]
        pending = None if room.pending_mode is not None and room.pending_mode is applied_pending else room.pending_mode
        db.rooms[room.id] = msgspec.structs.replace(room, current_mode=turn.mode, pending_mode=pending)
        db.turns[turn.turn_id] = TurnRow(
            context=msgspec.structs.replace(turn, opening_hold=None),  # not a column: never read back
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            status=TurnStatus.RUNNING,
            heartbeat_at=turn.created_at,
        )

    async def context_of(self, turn_id: UUID) -> TurnContext | None:
        row = self._db.turns.get(turn_id)
        return row.context if row else None

    async def finish_turn(
        self,
        turn_id: UUID,
        status: TurnStatus,
        at: datetime,
        error: StepError | None,
        events: list[TurnEvent] | None = None,
        stop_reason: str | None = None,
    ) -> bool:
        row = self._db.turns[turn_id]
        if row.status is not TurnStatus.RUNNING:
            return False
        if row.stop_mode is not None and stop_reason is None and status is not TurnStatus.FAILED:
            return False  # a stop the caller did not know of: the turn ends stopped after all
        row.status, row.completed_at, row.error, row.heartbeat_at = status, at, error, at
        row.stop_reason = stop_reason
        self._db.add_events(turn_id, events or [])
        return True

    async def turn_of(self, user_id: UUID, turn_id: UUID) -> Turn | None:
        row = self._db.turns.get(turn_id)
        if row is None or row.context.user_id != user_id or self._db.live_room(user_id, row.context.room_id) is None:
            return None
        return self._to_turn(row)

    async def turns_of(self, user_id: UUID, session_id: UUID, *, limit: int, after: int | None) -> list[Turn]:
        rows = sorted(
            (
                r
                for r in self._db.turns.values()
                if r.context.session_id == session_id and (after is None or r.context.turn_index > after)
            ),
            key=lambda r: r.context.turn_index,
        )
        return [t for r in rows if (t := await self.turn_of(user_id, r.context.turn_id))][:limit]

    async def stale_turns(self, heartbeat_before: datetime) -> list[StaleTurn]:
        rows = sorted(self._db.turns.values(), key=lambda r: r.context.created_at)
        return [
            StaleTurn(turn_id=r.context.turn_id, created_at=r.context.created_at, heartbeat_at=r.heartbeat_at)
            for r in rows
            if r.status is TurnStatus.RUNNING and r.heartbeat_at < heartbeat_before
        ]

    async def claim_turn(self, turn_id: UUID, seen_heartbeat: datetime, now: datetime) -> bool:
        row = self._db.turns.get(turn_id)
        if row is None or row.status is not TurnStatus.RUNNING or row.heartbeat_at != seen_heartbeat:
            return False
        row.heartbeat_at = now
        return True

    async def heartbeat(self, turn_ids: list[UUID], now: datetime) -> None:
        for turn_id in turn_ids:
            if (row := self._db.turns.get(turn_id)) and row.status is TurnStatus.RUNNING:
                row.heartbeat_at = now

    def _to_turn(self, row: TurnRow) -> Turn:
        entries = [e for e in self._db.ledger if e.turn_id == row.context.turn_id]
        usage = TurnUsage(
            llm_calls=len(entries),
            input_tokens=sum(e.input_tokens_fresh + e.input_tokens_cached for e in entries),
            output_tokens=sum(e.output_tokens for e in entries),
            credits=sum((e.credits_burned for e in entries), start=TurnUsage().credits),
        )
        c = row.context
        steps = [s.step for s in self._db.steps_of(c.turn_id)]
        return Turn(
            id=c.turn_id,
            session_id=c.session_id,
            turn_index=c.turn_index,
            mode=c.mode,
            status=row.status,
            user_message=c.user_message,
            steps=steps,
            usage=usage,
            created_at=c.created_at,
            completed_at=row.completed_at,
            stop_reason=row.stop_reason,
            orchestration=orchestration_of(c.mode, steps),
        )


class MemoryHistoryStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def recent(
        self, session_id: UUID, *, before_index: int, limit: int, after_index: int = -1
    ) -> list[HistoryTurn]:
        rows = sorted(
            (
                r
                for r in self._db.turns.values()
                if r.context.session_id == session_id and after_index < r.context.turn_index < before_index
            ),
            key=lambda r: r.context.turn_index,
            reverse=True,
        )[:limit]
        return [
            HistoryTurn(
                turn_index=r.context.turn_index,
                user_message=r.context.user_message,
                answers=[
                    (s.step.agent_name or "agent", s.step.content)
                    for s in self._db.steps_of(r.context.turn_id)
                    if s.step.status is StepStatus.COMPLETED and s.step.kind is not StepKind.MANAGER
                ],
            )
            for r in rows
        ]


class MemoryStepRecorder:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def committed_step(self, turn_id: UUID, step_index: int) -> TurnStep | None:
        row = self._db.steps.get((turn_id, step_index))
        return row.step if row else None

    async def record_intent(self, intent: CallIntent) -> None:
        self._db.intents.setdefault(intent.call_id, intent)

    async def settle_intent(self, call_id: UUID, outcome: LlmAttempt) -> None:
        if call_id in self._db.intents:
            self._db.intents[call_id] = msgspec.structs.replace(self._db.intents[call_id], outcome=outcome)

    async def commit_step(
        self,
        turn_id: UUID,
        step: TurnStep,
        ledger: list[LedgerEntry],
        at: datetime,
        audits: list[ContextAudit] | None = None,
        events: list[TurnEvent] | None = None,
    ) -> bool:
        db = self._db
        if (turn_id, step.index) in db.steps:
            return False  # the step's primary key: the whole unit is refused
        self._check_new(ledger)
        db.add_events(turn_id, events or [])
        for audit in audits or []:
            db.audits.setdefault(audit.call_id, audit)
        db.steps[(turn_id, step.index)] = StepRow(step=step, at=at)
        db.ledger.extend(ledger)
        if (turn := db.turns.get(turn_id)) is not None:
            db.wallets.settle(turn_id, "step", ledger, at, turn.context.user_id, step.index)
        for call_id in [c for c, i in db.intents.items() if i.turn_id == turn_id and i.step_index == step.index]:
            del db.intents[call_id]
        if (row := db.turns.get(turn_id)) and row.status is TurnStatus.RUNNING:
            row.heartbeat_at = at
        return True

    async def commit_summary(
        self, turn_id: UUID, summary: Summary | None, ledger: list[LedgerEntry], audits: list[ContextAudit]
    ) -> bool:
        db = self._db
        if any(s.turn_id == turn_id for s in db.summaries):
            return False  # the unique index on the summary's turn: the whole unit is refused
        self._check_new(ledger)
        if summary is not None:
            db.summaries.append(summary)
        db.ledger.extend(ledger)
        for audit in audits:
            db.audits.setdefault(audit.call_id, audit)
        for call_id in [c for c, i in db.intents.items() if i.turn_id == turn_id and i.step_index is None]:
            del db.intents[call_id]
        at = max((e.created_at for e in ledger), default=summary.created_at if summary else None)
        if at is not None and (turn := db.turns.get(turn_id)) is not None:
            db.wallets.settle(turn_id, "summary", ledger, at, turn.context.user_id)
        return True

    def _check_new(self, ledger: list[LedgerEntry]) -> None:
        known = {e.call_id for e in self._db.ledger}
        if any(e.call_id in known for e in ledger) or len({e.call_id for e in ledger}) != len(ledger):
            raise ValueError("duplicate call_id in the ledger")  # the SQL unique constraint's twin

    async def open_intents(self, turn_id: UUID) -> list[CallIntent]:
        return sorted((i for i in self._db.intents.values() if i.turn_id == turn_id), key=lambda i: i.started_at)

    async def cancel_intents(self, turn_id: UUID, ledger: list[LedgerEntry]) -> None:
        self._db.ledger.extend(ledger)
        for entry in ledger:
            self._db.intents.pop(entry.call_id, None)
        if ledger and (turn := self._db.turns.get(turn_id)) is not None:
            at = max(e.created_at for e in ledger)
            self._db.wallets.settle(turn_id, "turn", ledger, at, turn.context.user_id)


class MemoryTurnEventStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def append_events(self, turn_id: UUID, events: list[TurnEvent], at: datetime) -> None:
        self._db.add_events(turn_id, events)

    async def next_seq(self, turn_id: UUID) -> int:
        return len(self._db.events.get(turn_id, [])) + 1

    async def events_after(self, user_id: UUID, turn_id: UUID, after_seq: int, limit: int) -> EventPage | None:
        row = self._db.turns.get(turn_id)
        if row is None or row.context.user_id != user_id or self._db.live_room(user_id, row.context.room_id) is None:
            return None
        events = [e for e in self._db.events.get(turn_id, []) if e.seq > after_seq][:limit]
        return EventPage(events=events, running=row.status is TurnStatus.RUNNING)


class MemoryUsageLedger:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def events(
        self,
        user_id: UUID,
        *,
        turn_id: UUID | None,
        session_id: UUID | None,
        limit: int,
        after: tuple[datetime, UUID] | None,
    ) -> UsagePage:
        rows = sorted(
            (
                e
                for e in self._db.ledger
                if e.user_id == user_id
                and (turn_id is None or e.turn_id == turn_id)
                and (session_id is None or e.session_id == session_id)
                and (after is None or (e.created_at, e.id) > after)
            ),
            key=lambda e: (e.created_at, e.id),
        )
        items = rows[:limit]
        more = len(rows) > limit
        return UsagePage(items=items, next_after=(items[-1].created_at, items[-1].id) if more else None)

    async def summary(self, user_id: UUID, group_by: GroupBy) -> list[UsageTotals]:
        keys = {
            "model": lambda e: e.model_alias,
            "day": lambda e: e.created_at.astimezone(UTC).strftime("%Y-%m-%d"),
            "room": lambda e: str(e.room_id) if e.room_id else "none",
        }
        groups: dict[str, list[LedgerEntry]] = {}
        for entry in self._db.ledger:
            if entry.user_id == user_id:
                groups.setdefault(keys[group_by](entry), []).append(entry)
        return [
            UsageTotals(
                key=key,
                llm_calls=len(rows),
                input_tokens=sum(e.input_tokens_fresh + e.input_tokens_cached for e in rows),
                output_tokens=sum(e.output_tokens for e in rows),
                credits=sum((e.credits_burned for e in rows), start=TurnUsage().credits),
                provider_cost_usd=sum((e.provider_cost_usd for e in rows), start=ZERO_USD),
            )
            for key, rows in sorted(groups.items())
        ]


class SequentialTurnRunner:
    """The TurnRunner contract without LangGraph: steps in order, resuming from committed steps."""

    async def run(self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep) -> list[TurnStep]:
        steps: list[TurnStep] = []
        while (planned := next_step(turn, steps)) is not None:
            if (step := await execute_step(turn, planned, list(steps))) is not None:
                steps.append(step)
        return steps

    async def resume(self, turn: TurnContext, execute_step: StepExecutor, next_step: NextStep) -> list[TurnStep]:
        return await self.run(turn, execute_step, next_step)

    async def forget_finished(self) -> int:
        return 0  # it keeps nothing between runs


class MemorySummaryStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def latest_summary(self, session_id: UUID) -> Summary | None:
        mine = [s for s in self._db.summaries if s.session_id == session_id]
        return max(mine, key=lambda s: (s.through_turn_index, s.created_at), default=None)

    async def summary_of(self, user_id: UUID, session_id: UUID) -> Summary | None:
        session = self._db.sessions.get(session_id)
        if session is None or session.user_id != user_id or session.room_id in self._db.deleted_rooms:
            return None
        return await self.latest_summary(session_id)

    async def context_of(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> list[ContextAudit] | None:
        row = self._db.turns.get(turn_id)
        if (
            row is None
            or row.context.user_id != user_id
            or row.context.session_id != session_id
            or row.context.room_id in self._db.deleted_rooms
        ):
            return None
        audits = [a for a in self._db.audits.values() if a.turn_id == turn_id]
        return sorted(audits, key=lambda a: (a.created_at, a.step_index is not None, a.step_index or 0, str(a.call_id)))
