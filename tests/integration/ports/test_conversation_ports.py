"""The shared suite of the ConversationStore (the sessions a stateless client's conversation continues),
run against the in-memory fake and the PostgreSQL adapter with the same assertions."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import pytest

from adapters.memory.conversations import MemoryConversationStore
from adapters.memory.stores import MemoryDatabase
from adapters.memory.turns import MemoryTurnStore
from adapters.postgres.conversations import PostgresConversationStore
from adapters.postgres.turns import PostgresTurnStore
from application.ports.conversations import ConversationStore
from application.ports.turns import TurnStore
from domain.model import Room, User
from domain.turns import TurnStatus
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
class Ports:
    stores: Stores
    turns: TurnStore
    conversations: ConversationStore


@pytest.fixture(params=["memory", "postgres"])
def ports(request: pytest.FixtureRequest) -> Ports:
    if request.param == "memory":
        db = MemoryDatabase()
        return Ports(memory_stores_on(db), MemoryTurnStore(db), MemoryConversationStore(db))
    pool = request.getfixturevalue("pool")
    return Ports(postgres_stores(pool), PostgresTurnStore(pool), PostgresConversationStore(pool))


async def a_room(ports: Ports) -> tuple[User, Room]:
    owner = await add_user(ports.stores)
    room = await add_room(ports.stores, owner)
    await add_agent(ports.stores, room, "ada", 0)
    return owner, room


async def conversation(ports: Ports, owner: User, room: Room, *messages: str) -> UUID:
    session = await add_session(ports.stores, room)
    for message in messages:
        context = await start_turn(ports.turns, owner.id, session.id, message=f"@ada {message}", now=tick())
        await ports.turns.finish_turn(context.turn_id, TurnStatus.COMPLETED, tick(), None)
    return session.id


def asked(*messages: str) -> list[str]:
    return [f"@ada {m}" for m in messages]


async def test_the_sessions_holding_exactly_those_messages_newest_first(ports: Ports) -> None:
    owner, room = await a_room(ports)
    older = await conversation(ports, owner, room, "plan", "why")
    newer = await conversation(ports, owner, room, "plan", "why")
    await conversation(ports, owner, room, "plan", "why", "who")  # went on past them
    await conversation(ports, owner, room, "plan")  # stopped before
    await conversation(ports, owner, room, "why", "plan")  # another order
    await conversation(ports, owner, room, "plan", "why?")  # another last message
    await add_session(ports.stores, room)  # none yet

    found = await ports.conversations.sessions_holding(owner.id, room.id, asked("plan", "why"))

    assert found == [newer, older]
    assert await ports.conversations.sessions_holding(owner.id, room.id, asked("plan")) != []
    assert await ports.conversations.sessions_holding(owner.id, room.id, []) == []


async def test_only_the_owners_live_room_is_searched(ports: Ports) -> None:
    owner, room = await a_room(ports)
    await conversation(ports, owner, room, "plan")
    stranger, other_room = await a_room(ports)
    await conversation(ports, stranger, other_room, "plan")

    assert await ports.conversations.sessions_holding(stranger.id, room.id, asked("plan")) == []
    assert len(await ports.conversations.sessions_holding(stranger.id, other_room.id, asked("plan"))) == 1
    await ports.stores.rooms.delete_room(owner.id, room.id, tick())
    assert await ports.conversations.sessions_holding(owner.id, room.id, asked("plan")) == []


async def test_only_an_unused_session_of_the_owner_is_discarded(ports: Ports) -> None:
    owner, room = await a_room(ports)
    empty = (await add_session(ports.stores, room)).id
    used = await conversation(ports, owner, room, "plan")
    stranger = await add_user(ports.stores)

    await ports.conversations.discard_unused_session(stranger.id, empty)
    assert await ports.stores.sessions.session_of(owner.id, empty) is not None
    await ports.conversations.discard_unused_session(owner.id, empty)
    await ports.conversations.discard_unused_session(owner.id, used)

    assert await ports.stores.sessions.session_of(owner.id, empty) is None
    assert (await ports.stores.sessions.session_of(owner.id, used)).turn_count == 1
