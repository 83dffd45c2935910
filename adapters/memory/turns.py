"""In-process fakes of the turn ports: storage, step recording and a plain sequential runner."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from adapters.memory.stores import MemoryDatabase
from application.ports.events import EventPage, TurnEvent
from application.ports.llm import LlmAttempt
from application.ports.turns import (
    CallIntent,
    ContextAudit,
    HistoryTurn,
    IdempotentTurn,
    LedgerEntry,
    NewTurn,
    PlanFn,
    StaleTurn,
    StepExecutor,
    TurnContext,
)
from domain.errors import IdempotencyConflict, NotFound, TurnInProgress
from domain.model import Mode
from domain.turns import RosterEntry, StepError, StepKind, StepStatus, Turn, TurnStatus, TurnStep, TurnUsage


class _TurnRow(msgspec.Struct, kw_only=True):
    context: TurnContext
    idempotency_key: str | None
    request_hash: str
    status: TurnStatus
    heartbeat_at: datetime
    completed_at: datetime | None = None
    error: StepError | None = None


class MemoryTurnLedger:
    """Turns, steps, intents and ledger rows, shared by the fakes below."""

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        self.turns: dict[UUID, _TurnRow] = {}
        self.steps: dict[tuple[UUID, int], TurnStep] = {}
        self.intents: dict[UUID, CallIntent] = {}
        self.ledger: list[LedgerEntry] = []
        self.audits: dict[UUID, ContextAudit] = {}
        self.events: dict[UUID, list[TurnEvent]] = {}

    def add_events(self, turn_id: UUID, events: list[TurnEvent]) -> None:
        stored = self.events.setdefault(turn_id, [])
        for event in events:
            if event.seq <= len(stored):
                continue  # already there: a retried write (ON CONFLICT DO NOTHING in the real table)
            if event.seq != len(stored) + 1:  # the primary key (turn_id, seq) leaves no gap
                raise ValueError(f"event seq {event.seq} after {len(stored)}")
            stored.append(event)


class MemoryTurnStore:
    def __init__(self, data: MemoryTurnLedger) -> None:
        self._data = data

    async def idempotent_turn(self, user_id: UUID, key: str) -> IdempotentTurn | None:
        for row in self._data.turns.values():
            if row.context.user_id == user_id and row.idempotency_key == key:
                return IdempotentTurn(
                    turn_id=row.context.turn_id,
                    session_id=row.context.session_id,
                    request_hash=row.request_hash,
                    status=row.status,
                )
        return None

    async def begin_turn(self, new: NewTurn, plan: PlanFn) -> TurnContext:
        db = self._data.db
        session = db.sessions.get(new.session_id)
        room = db.live_room(new.user_id, session.room_id) if session and session.user_id == new.user_id else None
        if session is None or room is None:
            raise NotFound("No such session.")
        if any(
            r.context.session_id == session.id and r.status is TurnStatus.RUNNING for r in self._data.turns.values()
        ):
            raise TurnInProgress("Another turn of this session is still running.")
        if new.idempotency_key and await self.idempotent_turn(new.user_id, new.idempotency_key):
            raise IdempotencyConflict("This Idempotency-Key is already in use.")
        mode = room.pending_mode or room.current_mode
        agents = sorted(
            (a for a in db.agents.values() if a.room_id == room.id), key=lambda a: (a.position, a.agent_key)
        )
        roster = [
            RosterEntry(
                agent_key=a.agent_key, name=a.name, model=a.model, role_prompt=a.role_prompt, position=a.position
            )
            for a in agents
        ]
        steps = plan(Mode(mode), roster)
        db.rooms[room.id] = msgspec.structs.replace(room, current_mode=mode, pending_mode=None)
        db.sessions[session.id] = msgspec.structs.replace(session, turn_count=session.turn_count + 1)
        context = TurnContext(
            turn_id=new.turn_id,
            user_id=new.user_id,
            room_id=room.id,
            session_id=session.id,
            turn_index=session.turn_count,
            mode=Mode(mode),
            user_message=new.message,
            room_goal=room.goal,
            roster=roster,
            plan=steps,
            pricing_version=new.pricing_version,
            created_at=new.now,
        )
        self._data.turns[new.turn_id] = _TurnRow(
            context=context,
            idempotency_key=new.idempotency_key,
            request_hash=new.request_hash,
            status=TurnStatus.RUNNING,
            heartbeat_at=new.now,
        )
        return context

    async def context_of(self, turn_id: UUID) -> TurnContext | None:
        row = self._data.turns.get(turn_id)
        return row.context if row else None

    async def history(self, session_id: UUID, before_index: int, limit: int) -> list[HistoryTurn]:
        rows = sorted(
            (
                r
                for r in self._data.turns.values()
                if r.context.session_id == session_id and r.context.turn_index < before_index
            ),
            key=lambda r: r.context.turn_index,
            reverse=True,
        )[:limit]
        return [
            HistoryTurn(
                turn_index=r.context.turn_index,
                user_message=r.context.user_message,
                answers=[
                    (s.agent_name or "agent", s.content)
                    for s in self._steps_of(r.context.turn_id)
                    if s.status is StepStatus.COMPLETED and s.kind is not StepKind.MANAGER
                ],
            )
            for r in rows
        ]

    async def finish_turn(
        self,
        turn_id: UUID,
        status: TurnStatus,
        at: datetime,
        error: StepError | None,
        events: list[TurnEvent] | None = None,
    ) -> bool:
        row = self._data.turns[turn_id]
        if row.status is not TurnStatus.RUNNING:
            return False
        row.status, row.completed_at, row.error, row.heartbeat_at = status, at, error, at
        self._data.add_events(turn_id, events or [])
        return True

    async def turn_of(self, user_id: UUID, turn_id: UUID) -> Turn | None:
        row = self._data.turns.get(turn_id)
        if (
            row is None
            or row.context.user_id != user_id
            or self._data.db.live_room(user_id, row.context.room_id) is None
        ):
            return None
        return self._to_turn(row)

    async def turns_of(self, user_id: UUID, session_id: UUID, *, limit: int, after: int | None) -> list[Turn]:
        rows = [
            r
            for r in self._data.turns.values()
            if r.context.session_id == session_id and (after is None or r.context.turn_index > after)
        ]
        turns = [
            t
            for r in sorted(rows, key=lambda r: r.context.turn_index)
            if (t := await self.turn_of(user_id, r.context.turn_id))
        ]
        return turns[:limit]

    async def stale_turns(self, heartbeat_before: datetime) -> list[StaleTurn]:
        return [
            StaleTurn(turn_id=r.context.turn_id, created_at=r.context.created_at, heartbeat_at=r.heartbeat_at)
            for r in self._data.turns.values()
            if r.status is TurnStatus.RUNNING and r.heartbeat_at < heartbeat_before
        ]

    async def claim_turn(self, turn_id: UUID, seen_heartbeat: datetime, now: datetime) -> bool:
        row = self._data.turns.get(turn_id)
        if row is None or row.status is not TurnStatus.RUNNING or row.heartbeat_at != seen_heartbeat:
            return False
        row.heartbeat_at = now
        return True

    async def heartbeat(self, turn_ids: list[UUID], now: datetime) -> None:
        for turn_id in turn_ids:
            if (row := self._data.turns.get(turn_id)) and row.status is TurnStatus.RUNNING:
                row.heartbeat_at = now

    def _steps_of(self, turn_id: UUID) -> list[TurnStep]:
        return [s for (t, _), s in sorted(self._data.steps.items(), key=lambda kv: kv[0][1]) if t == turn_id]

    def _to_turn(self, row: _TurnRow) -> Turn:
        entries = [e for e in self._data.ledger if e.turn_id == row.context.turn_id]
        usage = TurnUsage(
            llm_calls=len(entries),
            input_tokens=sum(e.input_tokens_fresh + e.input_tokens_cached for e in entries),
            output_tokens=sum(e.output_tokens for e in entries),
            credits=sum((e.credits_burned for e in entries), start=TurnUsage().credits),
        )
        c = row.context
        return Turn(
            id=c.turn_id,
            session_id=c.session_id,
            turn_index=c.turn_index,
            mode=c.mode,
            status=row.status,
            user_message=c.user_message,
            steps=self._steps_of(c.turn_id),
            usage=usage,
            created_at=c.created_at,
            completed_at=row.completed_at,
        )


class MemoryStepRecorder:
    def __init__(self, data: MemoryTurnLedger) -> None:
        self._data = data

    async def committed_step(self, turn_id: UUID, step_index: int) -> TurnStep | None:
        return self._data.steps.get((turn_id, step_index))

    async def record_intent(self, intent: CallIntent) -> None:
        self._data.intents.setdefault(intent.call_id, intent)

    async def settle_intent(self, call_id: UUID, outcome: LlmAttempt) -> None:
        if call_id in self._data.intents:
            self._data.intents[call_id] = msgspec.structs.replace(self._data.intents[call_id], outcome=outcome)

    async def commit_step(
        self,
        turn_id: UUID,
        step: TurnStep,
        ledger: list[LedgerEntry],
        at: datetime,
        audit: ContextAudit | None = None,
        events: list[TurnEvent] | None = None,
    ) -> bool:
        if (turn_id, step.index) in self._data.steps:
            return False
        self._data.add_events(turn_id, events or [])
        if audit is not None:
            self._data.audits.setdefault(audit.turn_id, audit)
        known = {e.call_id for e in self._data.ledger}
        if any(e.call_id in known for e in ledger) or len({e.call_id for e in ledger}) != len(ledger):
            raise ValueError("duplicate call_id in the ledger")  # the SQL unique constraint's twin
        self._data.steps[(turn_id, step.index)] = step
        self._data.ledger.extend(ledger)
        for call_id in [
            c for c, i in self._data.intents.items() if i.turn_id == turn_id and i.step_index == step.index
        ]:
            del self._data.intents[call_id]
        return True

    async def open_intents(self, turn_id: UUID) -> list[CallIntent]:
        return sorted((i for i in self._data.intents.values() if i.turn_id == turn_id), key=lambda i: i.started_at)

    async def cancel_intents(self, turn_id: UUID, ledger: list[LedgerEntry]) -> None:
        self._data.ledger.extend(ledger)
        for entry in ledger:
            self._data.intents.pop(entry.call_id, None)


class MemoryTurnEventStore:
    def __init__(self, data: MemoryTurnLedger) -> None:
        self._data = data

    async def append_events(self, turn_id: UUID, events: list[TurnEvent], at: datetime) -> None:
        self._data.add_events(turn_id, events)

    async def next_seq(self, turn_id: UUID) -> int:
        return len(self._data.events.get(turn_id, [])) + 1

    async def events_after(self, user_id: UUID, turn_id: UUID, after_seq: int, limit: int) -> EventPage | None:
        row = self._data.turns.get(turn_id)
        if row is None or row.context.user_id != user_id:
            return None
        if self._data.db.live_room(user_id, row.context.room_id) is None:
            return None
        events = [e for e in self._data.events.get(turn_id, []) if e.seq > after_seq][:limit]
        return EventPage(events=events, running=row.status is TurnStatus.RUNNING)


class SequentialTurnRunner:
    """The TurnRunner contract without LangGraph: steps in order, resuming from committed steps."""

    async def run(self, turn: TurnContext, execute_step: StepExecutor) -> list[TurnStep]:
        steps: list[TurnStep] = []
        for planned in turn.plan:
            steps.append(await execute_step(turn, planned, list(steps)))
        return steps

    async def resume(self, turn: TurnContext, execute_step: StepExecutor) -> list[TurnStep]:
        return await self.run(turn, execute_step)
