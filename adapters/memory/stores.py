"""In-process fakes of the storage ports, for fast use-case tests.

They share one `MemoryDatabase` (the turn fakes in adapters/memory/turns.py too), so tenancy, soft
delete and the conversation read back behave as the SQL does; the shared port test suite runs the
same assertions against these and the Postgres adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid5

import msgspec

from adapters.memory.wallet import MemoryWallets
from application.ports.events import TurnEvent
from application.ports.sessions import Message, MessageAt
from application.ports.turns import CallIntent, ContextAudit, LedgerEntry, TurnContext
from domain.errors import AgentKeyTaken, EmailTaken, too_many_agents
from domain.memory import Summary
from domain.model import Agent, Mode, Room, Session, User
from domain.pricing import PricingVersion
from domain.stopping import StopMode
from domain.turns import StepError, StepKind, StepStatus, TurnStatus, TurnStep
from domain.wallet import ZERO


@dataclass(kw_only=True)
class TurnRow:
    context: TurnContext
    idempotency_key: str | None
    request_hash: str
    status: TurnStatus
    heartbeat_at: datetime
    completed_at: datetime | None = None
    error: StepError | None = None
    stop_mode: StopMode | None = None  # a stop requested while it ran
    stop_requested_at: datetime | None = None
    stop_reason: str | None = None


@dataclass(frozen=True)
class StepRow:
    step: TurnStep
    at: datetime


@dataclass
class MemoryDatabase:
    users: dict[UUID, User] = field(default_factory=dict)
    keys: dict[bytes, UUID] = field(default_factory=dict)
    rooms: dict[UUID, Room] = field(default_factory=dict)
    deleted_rooms: set[UUID] = field(default_factory=set)
    agents: dict[UUID, Agent] = field(default_factory=dict)
    sessions: dict[UUID, Session] = field(default_factory=dict)
    turns: dict[UUID, TurnRow] = field(default_factory=dict)
    steps: dict[tuple[UUID, int], StepRow] = field(default_factory=dict)
    intents: dict[UUID, CallIntent] = field(default_factory=dict)
    ledger: list[LedgerEntry] = field(default_factory=list)
    audits: dict[UUID, ContextAudit] = field(default_factory=dict)  # by call_id
    summaries: list[Summary] = field(default_factory=list)
    events: dict[UUID, list[TurnEvent]] = field(default_factory=dict)
    # Told (turn_id, highest seq) after a write stores events, and (turn_id, None) for each running turn
    # of a room deleted: the twin of migration 0009's triggers.
    event_hooks: list[Callable[[UUID, int | None], None]] = field(default_factory=list)
    wallets: MemoryWallets = field(default_factory=MemoryWallets)

    def live_room(self, owner_id: UUID, room_id: UUID) -> Room | None:
        room = self.rooms.get(room_id)
        if room is None or room.owner_id != owner_id or room_id in self.deleted_rooms:
            return None
        return room

    def running_turn_of(self, session_id: UUID) -> bool:
        return any(r.context.session_id == session_id and r.status is TurnStatus.RUNNING for r in self.turns.values())

    def steps_of(self, turn_id: UUID) -> list[StepRow]:
        return [row for (t, _), row in sorted(self.steps.items(), key=lambda kv: kv[0][1]) if t == turn_id]

    def add_events(self, turn_id: UUID, events: list[TurnEvent]) -> None:
        stored = self.events.setdefault(turn_id, [])
        before = len(stored)
        for event in events:
            if event.seq <= len(stored):
                continue  # already there: a retried write (ON CONFLICT DO NOTHING in the real table)
            if event.seq != len(stored) + 1:  # the primary key (turn_id, seq) leaves no gap
                raise ValueError(f"event seq {event.seq} after {len(stored)}")
            stored.append(event)
        if len(stored) > before:  # like the trigger, only for rows this write stored
            for hook in list(self.event_hooks):
                hook(turn_id, len(stored))


def error_detail(step: TurnStep) -> str:
    return step.error.detail if step.error else ""


class MemoryUserStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create_user(self, user: User, key_hash: bytes, starting_credits: Decimal = ZERO) -> None:
        if any(u.email.lower() == user.email.lower() for u in self._db.users.values()):
            raise EmailTaken("A user with this e-mail already exists.")
        self._db.users[user.id] = user
        self._db.keys[key_hash] = user.id
        self._db.wallets.open_with_grant(user.id, user.created_at, starting_credits)

    async def forget_user(self, user_id: UUID) -> None:
        """Nothing is cached here."""

    async def user_for_key(self, key_hash: bytes) -> User | None:
        user_id = self._db.keys.get(key_hash)
        return self._db.users.get(user_id) if user_id else None


class MemoryRoomStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create_room(self, room: Room) -> None:
        self._db.rooms[room.id] = room

    async def rooms_of(self, owner_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None) -> list[Room]:
        rooms = [r for r in self._db.rooms.values() if self._db.live_room(owner_id, r.id)]
        rooms = [r for r in rooms if after is None or (r.created_at, r.id) < after]
        return sorted(rooms, key=lambda r: (r.created_at, r.id), reverse=True)[:limit]

    async def room_of(self, owner_id: UUID, room_id: UUID) -> Room | None:
        return self._db.live_room(owner_id, room_id)

    async def save_room(self, room: Room) -> None:
        if self._db.live_room(room.owner_id, room.id):
            stored = self._db.rooms[room.id]
            self._db.rooms[room.id] = msgspec.structs.replace(
                room, current_mode=stored.current_mode, pending_mode=stored.pending_mode
            )

    async def change_pending_mode(
        self, owner_id: UUID, room_id: UUID, decide: Callable[[Mode, Mode | None], Mode | None], at: datetime
    ) -> Room | None:
        room = self._db.live_room(owner_id, room_id)
        if room is None:
            return None
        room = msgspec.structs.replace(room, pending_mode=decide(room.current_mode, room.pending_mode), updated_at=at)
        self._db.rooms[room_id] = room
        return room

    async def delete_room(self, owner_id: UUID, room_id: UUID, at: datetime) -> bool:
        if self._db.live_room(owner_id, room_id) is None:
            return False
        self._db.deleted_rooms.add(room_id)
        for turn in [t for t in self._db.turns.values() if t.context.room_id == room_id]:
            if turn.status is TurnStatus.RUNNING:
                for hook in list(self._db.event_hooks):
                    hook(turn.context.turn_id, None)
        return True


class MemoryAgentStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def add_agent(self, agent: Agent, *, limit: int) -> None:
        if sum(a.room_id == agent.room_id for a in self._db.agents.values()) >= limit:
            raise too_many_agents(limit)
        if any(a.room_id == agent.room_id and a.agent_key == agent.agent_key for a in self._db.agents.values()):
            raise AgentKeyTaken(f"This room already has an agent with key {agent.agent_key!r}.")
        self._db.agents[agent.id] = agent

    async def agents_of(self, owner_id: UUID, room_id: UUID) -> list[Agent]:
        if self._db.live_room(owner_id, room_id) is None:
            return []
        roster = [a for a in self._db.agents.values() if a.room_id == room_id]
        return sorted(roster, key=lambda a: (a.position, a.agent_key))

    async def agent_of(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> Agent | None:
        agent = self._db.agents.get(agent_id)
        if agent is None or agent.room_id != room_id or self._db.live_room(owner_id, room_id) is None:
            return None
        return agent

    async def save_agent(self, agent: Agent) -> None:
        if agent.id in self._db.agents:
            self._db.agents[agent.id] = agent

    async def remove_agent(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> bool:
        if await self.agent_of(owner_id, room_id, agent_id) is None:
            return False
        del self._db.agents[agent_id]
        return True


class MemorySessionStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def create_session(self, session: Session) -> None:
        self._db.sessions[session.id] = session

    async def sessions_of_room(
        self, owner_id: UUID, room_id: UUID, *, limit: int, after: tuple[datetime, UUID] | None
    ) -> list[Session]:
        if self._db.live_room(owner_id, room_id) is None:
            return []
        found = [s for s in self._db.sessions.values() if s.room_id == room_id and s.user_id == owner_id]
        found = [s for s in found if after is None or (s.created_at, s.id) > after]
        return sorted(found, key=lambda s: (s.created_at, s.id))[:limit]

    async def session_of(self, owner_id: UUID, session_id: UUID) -> Session | None:
        session = self._db.sessions.get(session_id)
        if session is None or session.user_id != owner_id:
            return None
        return session if self._db.live_room(owner_id, session.room_id) else None

    async def messages_of(
        self, owner_id: UUID, session_id: UUID, *, limit: int, after: tuple[int, int] | None
    ) -> list[MessageAt]:
        if await self.session_of(owner_id, session_id) is None:
            return []
        rows = sorted(
            (r for r in self._db.turns.values() if r.context.session_id == session_id),
            key=lambda r: r.context.turn_index,
        )
        found = [message for row in rows for message in self._messages_of_turn(row)]
        return [m for m in found if after is None or (m.message.turn_index, m.position) > after][:limit]

    def _messages_of_turn(self, row: TurnRow) -> list[MessageAt]:
        turn = row.context
        said = Message(
            id=turn.turn_id,
            turn_index=turn.turn_index,
            role="user",
            agent_key=None,
            agent_name=None,
            content=turn.user_message,
            status="ok",
            created_at=turn.created_at,
        )
        answers = [
            MessageAt(
                position=s.step.index,
                message=Message(
                    id=uuid5(turn.turn_id, str(s.step.index)),  # the SQL shows the step row's own id
                    turn_index=turn.turn_index,
                    role="assistant",
                    agent_key=s.step.agent_key,
                    agent_name=s.step.agent_name,
                    content=s.step.content if s.step.status is StepStatus.COMPLETED else error_detail(s.step),
                    status="ok" if s.step.status is StepStatus.COMPLETED else "error",
                    created_at=s.at,
                ),
            )
            for s in self._db.steps_of(turn.turn_id)
            if s.step.kind is not StepKind.MANAGER
        ]
        return [MessageAt(position=-1, message=said), *answers]


class MemoryPricingStore:
    def __init__(self, versions: list[PricingVersion]) -> None:
        self._versions = sorted(versions, key=lambda v: (v.effective_from, v.version), reverse=True)

    async def active_version(self) -> PricingVersion:
        # As the SQL does: a version published for a future date is not in force yet.
        now = datetime.now(UTC)
        in_force = next((v for v in self._versions if v.effective_from <= now), None)
        if in_force is None:
            raise LookupError("No pricing version is in force.")
        return in_force

    async def pricing_version(self, version: str) -> PricingVersion | None:
        return next((v for v in self._versions if v.version == version), None)

    async def pricing_versions(self) -> list[PricingVersion]:
        return list(self._versions)

    async def publish_version(self, version: PricingVersion, *, replacing: str) -> bool:
        if (await self.active_version()).version != replacing:
            return False  # another version came into force first
        if any(v.version == version.version for v in self._versions):
            return False
        self._versions = sorted([*self._versions, version], key=lambda v: (v.effective_from, v.version), reverse=True)
        return True
