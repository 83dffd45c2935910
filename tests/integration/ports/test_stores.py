"""One port test suite, run against both the in-memory fakes and the Postgres adapters.

The fakes stand in for Postgres in every use-case test, so they must not drift from it: each test
below runs twice, once per implementation, with the same assertions. The Postgres database is shared
by the module, so every test makes its own users (unique e-mails) and rooms.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from adapters.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryPricingStore,
    MemoryRoomStore,
    MemorySessionStore,
    MemoryUserStore,
)
from adapters.postgres.agents import PostgresAgentStore
from adapters.postgres.pricing import PostgresPricingStore
from adapters.postgres.rooms import PostgresRoomStore
from adapters.postgres.sessions import PostgresSessionStore
from adapters.postgres.users import PostgresUserStore
from application.ports.agents import AgentStore
from application.ports.pricing import PricingStore
from application.ports.rooms import RoomStore
from application.ports.sessions import SessionStore
from application.ports.users import UserStore
from domain.api_keys import hash_api_key, new_api_key
from domain.errors import AgentKeyTaken, EmailTaken, TooManyAgents
from domain.model import Agent, Mode, Room, Session, User
from tests.support.seeded import pricing_version

_BASE = datetime(2026, 3, 1, tzinfo=UTC)
_ticks = itertools.count(1)


def tick() -> datetime:
    """A new, strictly later instant (whole seconds, so Postgres stores it exactly)."""
    return _BASE + timedelta(seconds=next(_ticks))


@dataclass
class Stores:
    users: UserStore
    rooms: RoomStore
    agents: AgentStore
    sessions: SessionStore
    pricing: PricingStore


def memory_stores() -> Stores:
    return memory_stores_on(MemoryDatabase())


def memory_stores_on(db: MemoryDatabase) -> Stores:
    return Stores(
        MemoryUserStore(db),
        MemoryRoomStore(db),
        MemoryAgentStore(db),
        MemorySessionStore(db),
        MemoryPricingStore([pricing_version()]),
    )


def postgres_stores(pool: Any) -> Stores:
    return Stores(
        PostgresUserStore(pool),
        PostgresRoomStore(pool),
        PostgresAgentStore(pool),
        PostgresSessionStore(pool),
        PostgresPricingStore(pool),
    )


@pytest.fixture(params=["memory", "postgres"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        return memory_stores()
    return postgres_stores(request.getfixturevalue("pool"))


def new_user(email: str | None = None) -> User:
    return User(
        id=uuid.uuid4(), email=email or f"u-{uuid.uuid4().hex}@example.com", display_name="Test", created_at=tick()
    )


async def add_user(stores: Stores) -> User:
    user = new_user()
    await stores.users.create_user(user, hash_api_key(new_api_key()))
    return user


async def add_room(stores: Stores, owner: User, name: str = "Room", *, at: datetime | None = None) -> Room:
    at = at or tick()
    room = Room(
        id=uuid.uuid4(),
        owner_id=owner.id,
        name=name,
        goal="A goal",
        current_mode=Mode.MANUAL,
        pending_mode=None,
        manager_model=None,
        created_at=at,
        updated_at=at,
    )
    await stores.rooms.create_room(room)
    return room


async def add_agent(stores: Stores, room: Room, key: str, position: int = 0, *, limit: int = 32) -> Agent:
    agent = Agent(
        id=uuid.uuid4(),
        room_id=room.id,
        agent_key=key,
        name=key.title(),
        model="sim",
        role_prompt=f"You are {key}.",
        position=position,
        created_at=tick(),
    )
    await stores.agents.add_agent(agent, limit=limit)
    return agent


async def add_session(stores: Stores, room: Room) -> Session:
    session = Session(id=uuid.uuid4(), room_id=room.id, user_id=room.owner_id, created_at=tick(), turn_count=0)
    await stores.sessions.create_session(session)
    return session


# Users -----------------------------------------------------------------------------------------------


async def test_a_user_is_found_by_the_hash_of_its_key(stores: Stores) -> None:
    user, key = new_user(), new_api_key()
    await stores.users.create_user(user, hash_api_key(key))

    assert await stores.users.user_for_key(hash_api_key(key)) == user
    assert await stores.users.user_for_key(hash_api_key(new_api_key())) is None


async def test_a_duplicate_e_mail_whatever_its_case_is_refused(stores: Stores) -> None:
    first, first_key = new_user(), new_api_key()
    await stores.users.create_user(first, hash_api_key(first_key))
    twin, twin_key = new_user(first.email.upper()), new_api_key()

    with pytest.raises(EmailTaken):
        await stores.users.create_user(twin, hash_api_key(twin_key))

    assert await stores.users.user_for_key(hash_api_key(first_key)) == first
    assert await stores.users.user_for_key(hash_api_key(twin_key)) is None


# Rooms -----------------------------------------------------------------------------------------------


async def test_rooms_page_newest_first_from_a_keyset_cursor(stores: Stores) -> None:
    owner = await add_user(stores)
    rooms = [await add_room(stores, owner, f"r{i}") for i in range(5)]
    first = await stores.rooms.rooms_of(owner.id, limit=2, after=None)
    assert first == [rooms[4], rooms[3]]
    rest = await stores.rooms.rooms_of(owner.id, limit=10, after=(first[-1].created_at, first[-1].id))
    assert rest == [rooms[2], rooms[1], rooms[0]]


async def test_sessions_page_oldest_first_from_a_keyset_cursor(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner)
    sessions = [await add_session(stores, room) for _ in range(4)]
    first = await stores.sessions.sessions_of_room(owner.id, room.id, limit=3, after=None)
    assert first == sessions[:3]
    after = (first[-1].created_at, first[-1].id)
    assert await stores.sessions.sessions_of_room(owner.id, room.id, limit=3, after=after) == sessions[3:]


async def test_rooms_of_lists_the_owners_rooms_newest_first(stores: Stores) -> None:
    owner, other = await add_user(stores), await add_user(stores)
    middle_at, old_at, new_at = tick(), _BASE - timedelta(days=1), tick() + timedelta(days=1)
    middle = await add_room(stores, owner, "middle", at=middle_at)
    old = await add_room(stores, owner, "old", at=old_at)
    new = await add_room(stores, owner, "new", at=new_at)
    await add_room(stores, other, "not yours")

    assert await stores.rooms.rooms_of(owner.id, limit=50, after=None) == [new, middle, old]


async def test_room_of_answers_only_its_owner(stores: Stores) -> None:
    owner, other = await add_user(stores), await add_user(stores)
    room = await add_room(stores, owner)

    assert await stores.rooms.room_of(owner.id, room.id) == room
    assert await stores.rooms.room_of(other.id, room.id) is None
    assert await stores.rooms.room_of(owner.id, uuid.uuid4()) is None


async def test_save_room_persists_the_edits_but_never_the_modes(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner, "before")
    edited = msgspec.structs.replace(
        room,
        name="after",
        goal=None,
        manager_model="deepseek",
        current_mode=Mode.ORCHESTRATOR,
        pending_mode=Mode.ROUNDTABLE,
        updated_at=tick(),
    )

    await stores.rooms.save_room(edited)

    assert await stores.rooms.room_of(owner.id, room.id) == msgspec.structs.replace(
        edited, current_mode=Mode.MANUAL, pending_mode=None
    )


async def test_a_pending_mode_is_decided_on_the_current_state(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner, "modes")
    seen = []

    def decide(current: Mode, pending: Mode | None) -> Mode | None:
        seen.append((current, pending))
        return Mode.ROUNDTABLE

    changed = await stores.rooms.change_pending_mode(owner.id, room.id, decide, tick())
    assert seen == [(Mode.MANUAL, None)]
    assert (changed.current_mode, changed.pending_mode) == (Mode.MANUAL, Mode.ROUNDTABLE)
    assert await stores.rooms.room_of(owner.id, room.id) == changed
    stranger = await add_user(stores)
    assert await stores.rooms.change_pending_mode(stranger.id, room.id, decide, tick()) is None


async def test_a_soft_deleted_room_disappears_with_its_agents_and_sessions(stores: Stores) -> None:
    owner = await add_user(stores)
    kept, doomed = await add_room(stores, owner, "kept"), await add_room(stores, owner, "doomed")
    agent = await add_agent(stores, doomed, "critic")
    session = await add_session(stores, doomed)

    assert await stores.rooms.delete_room(owner.id, doomed.id, tick()) is True

    assert await stores.rooms.rooms_of(owner.id, limit=50, after=None) == [kept]
    assert await stores.rooms.room_of(owner.id, doomed.id) is None
    assert await stores.agents.agents_of(owner.id, doomed.id) == []
    assert await stores.agents.agent_of(owner.id, doomed.id, agent.id) is None
    assert await stores.sessions.sessions_of_room(owner.id, doomed.id, limit=50, after=None) == []
    assert await stores.sessions.session_of(owner.id, session.id) is None
    assert await stores.rooms.delete_room(owner.id, doomed.id, tick()) is False


async def test_only_the_owner_can_delete_a_room(stores: Stores) -> None:
    owner, other = await add_user(stores), await add_user(stores)
    room = await add_room(stores, owner)

    assert await stores.rooms.delete_room(other.id, room.id, tick()) is False
    assert await stores.rooms.room_of(owner.id, room.id) == room


async def test_a_deleted_room_cannot_be_edited_back(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner)
    await stores.rooms.delete_room(owner.id, room.id, tick())

    await stores.rooms.save_room(msgspec.structs.replace(room, name="revived", updated_at=tick()))

    assert await stores.rooms.room_of(owner.id, room.id) is None
    assert await stores.rooms.rooms_of(owner.id, limit=50, after=None) == []


# Agents ----------------------------------------------------------------------------------------------


async def test_agents_are_ordered_by_position_then_key(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner)
    for key, position in [("zed", 1), ("bob", 2), ("ab", 2), ("a_c", 2), ("kim", 0), ("a9", 2)]:
        await add_agent(stores, room, key, position)

    roster = await stores.agents.agents_of(owner.id, room.id)

    # Keys compare character by character ('9' < '_' < 'b'), whatever the server's locale.
    assert [(a.agent_key, a.position) for a in roster] == [
        ("kim", 0),
        ("zed", 1),
        ("a9", 2),
        ("a_c", 2),
        ("ab", 2),
        ("bob", 2),
    ]


async def test_a_room_holds_at_most_the_limit_of_agents(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner)
    for key in ("a", "b", "c"):
        await add_agent(stores, room, key, limit=3)
    with pytest.raises(TooManyAgents) as refused:
        await add_agent(stores, room, "d", limit=3)
    assert refused.value.extra == {"limit": 3}
    assert [a.agent_key for a in await stores.agents.agents_of(owner.id, room.id)] == ["a", "b", "c"]


async def test_an_agent_key_is_unique_within_its_room_only(stores: Stores) -> None:
    owner = await add_user(stores)
    room, other_room = await add_room(stores, owner), await add_room(stores, owner)
    first = await add_agent(stores, room, "critic")

    with pytest.raises(AgentKeyTaken):
        await add_agent(stores, room, "critic", position=5)
    twin = await add_agent(stores, other_room, "critic")

    assert await stores.agents.agents_of(owner.id, room.id) == [first]
    assert await stores.agents.agents_of(owner.id, other_room.id) == [twin]


async def test_agent_of_answers_only_for_its_room_and_owner(stores: Stores) -> None:
    owner, other = await add_user(stores), await add_user(stores)
    room, other_room = await add_room(stores, owner), await add_room(stores, owner)
    agent = await add_agent(stores, room, "critic")

    assert await stores.agents.agent_of(owner.id, room.id, agent.id) == agent
    assert await stores.agents.agent_of(other.id, room.id, agent.id) is None
    assert await stores.agents.agent_of(owner.id, other_room.id, agent.id) is None
    assert await stores.agents.agents_of(other.id, room.id) == []


async def test_save_agent_persists_the_edits(stores: Stores) -> None:
    owner = await add_user(stores)
    room = await add_room(stores, owner)
    agent = await add_agent(stores, room, "critic")
    edited = msgspec.structs.replace(agent, name="Harsh critic", model="deepseek", role_prompt="Be harsh.", position=9)

    await stores.agents.save_agent(edited)

    assert await stores.agents.agent_of(owner.id, room.id, agent.id) == edited


async def test_remove_agent_needs_the_owner_and_works_once(stores: Stores) -> None:
    owner, other = await add_user(stores), await add_user(stores)
    room = await add_room(stores, owner)
    agent = await add_agent(stores, room, "critic")

    assert await stores.agents.remove_agent(other.id, room.id, agent.id) is False
    assert await stores.agents.agents_of(owner.id, room.id) == [agent]
    assert await stores.agents.remove_agent(owner.id, room.id, agent.id) is True
    assert await stores.agents.agents_of(owner.id, room.id) == []
    assert await stores.agents.remove_agent(owner.id, room.id, agent.id) is False


# Sessions --------------------------------------------------------------------------------------------


async def test_sessions_are_scoped_by_owner_and_listed_oldest_first(stores: Stores) -> None:
    owner, other = await add_user(stores), await add_user(stores)
    room, other_room = await add_room(stores, owner), await add_room(stores, owner)
    first, second = await add_session(stores, room), await add_session(stores, room)
    await add_session(stores, other_room)

    assert await stores.sessions.sessions_of_room(owner.id, room.id, limit=50, after=None) == [first, second]
    assert await stores.sessions.session_of(owner.id, first.id) == first
    assert await stores.sessions.sessions_of_room(other.id, room.id, limit=50, after=None) == []
    assert await stores.sessions.session_of(other.id, first.id) is None
    assert await stores.sessions.session_of(owner.id, uuid.uuid4()) is None


async def test_a_new_session_has_no_messages(stores: Stores) -> None:
    owner = await add_user(stores)
    session = await add_session(stores, await add_room(stores, owner))

    assert await stores.sessions.messages_of(owner.id, session.id, limit=50, after=None) == []


# Pricing ---------------------------------------------------------------------------------------------


async def test_the_active_pricing_version_is_the_seeded_2026_02_20(stores: Stores) -> None:
    active = await stores.pricing.active_version()

    assert active.version == "2026-02-20"
    assert len(active.models) == 17
    assert active == pricing_version()  # every weight and every price, exactly


async def test_pricing_versions_are_found_by_name(stores: Stores) -> None:
    assert await stores.pricing.pricing_version("2026-02-20") == pricing_version()
    assert await stores.pricing.pricing_version("nope") is None
    assert "2026-02-20" in [v.version for v in await stores.pricing.pricing_versions()]


async def test_a_version_published_for_a_future_date_is_listed_but_not_in_force(stores: Stores) -> None:
    future = pricing_version(
        f"future-{uuid.uuid4().hex[:8]}", datetime(2999, 1, 1, tzinfo=UTC), {"kimi": ("9.99", "1", "1", "1")}
    )

    assert await stores.pricing.publish_version(future, replacing="2026-02-20") is True

    assert (await stores.pricing.active_version()).version == "2026-02-20"
    assert await stores.pricing.pricing_version(future.version) == future
    listed = [v.version for v in await stores.pricing.pricing_versions()]
    assert listed.index(future.version) < listed.index("2026-02-20")  # newest first
    assert await stores.pricing.publish_version(future, replacing="2026-02-20") is False  # the name is taken
    stale = pricing_version(f"stale-{uuid.uuid4().hex[:8]}", datetime(2999, 1, 1, tzinfo=UTC), {})
    assert await stores.pricing.publish_version(stale, replacing="1999-01-01") is False
    assert await stores.pricing.pricing_version(stale.version) is None
