"""Sessions of a room and their (empty until a turn runs) conversation."""

from __future__ import annotations

from uuid import uuid4

import pytest

from adapters.memory.system import START
from application.use_cases.rooms import DeleteRoom
from application.use_cases.sessions import GetSession, ListMessages, ListSessions
from domain.errors import NotFound
from tests.unit.use_cases.conftest import World


async def test_a_new_session_starts_with_no_turns_and_no_messages(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)

    session = await world.new_session(owner, room.id)

    assert (session.room_id, session.user_id, session.turn_count, session.created_at) == (room.id, owner, 0, START)
    assert await GetSession(world.sessions).execute(owner, session.id) == session
    assert await ListMessages(world.sessions).execute(owner, session.id, limit=50, cursor=None) == ([], None)


async def test_sessions_of_a_room_are_listed_oldest_first(world: World) -> None:
    owner = await world.new_user_id()
    room, other_room = await world.new_room(owner), await world.new_room(owner)
    first = await world.new_session(owner, room.id)
    world.clock.advance()
    second = await world.new_session(owner, room.id)
    await world.new_session(owner, other_room.id)

    assert await ListSessions(world.rooms, world.sessions).execute(owner, room.id, limit=50, cursor=None) == (
        [first, second],
        None,
    )


async def test_another_users_room_and_sessions_are_not_found(world: World) -> None:
    owner, intruder = await world.new_user_id(), await world.new_user_id()
    room = await world.new_room(owner)
    session = await world.new_session(owner, room.id)

    with pytest.raises(NotFound):
        await world.new_session(intruder, room.id)
    with pytest.raises(NotFound):
        await ListSessions(world.rooms, world.sessions).execute(intruder, room.id, limit=50, cursor=None)
    with pytest.raises(NotFound):
        await GetSession(world.sessions).execute(intruder, session.id)
    with pytest.raises(NotFound):
        await ListMessages(world.sessions).execute(intruder, session.id, limit=50, cursor=None)
    with pytest.raises(NotFound):
        await GetSession(world.sessions).execute(owner, uuid4())


async def test_the_sessions_of_a_deleted_room_are_not_found(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    session = await world.new_session(owner, room.id)

    await DeleteRoom(world.rooms, world.clock).execute(owner, room.id)

    with pytest.raises(NotFound):
        await world.new_session(owner, room.id)
    with pytest.raises(NotFound):
        await ListSessions(world.rooms, world.sessions).execute(owner, room.id, limit=50, cursor=None)
    with pytest.raises(NotFound):
        await GetSession(world.sessions).execute(owner, session.id)
    with pytest.raises(NotFound):
        await ListMessages(world.sessions).execute(owner, session.id, limit=50, cursor=None)
