"""Rooms: create, list, read, PATCH, pending mode changes and soft delete, on the in-memory store."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from adapters.memory.system import START
from application.use_cases.rooms import ChangeMode, DeleteRoom, GetRoom, ListRooms, UpdateRoom
from domain.errors import NotFound, UnknownModel
from domain.model import Mode
from tests.unit.use_cases.conftest import World


async def test_a_new_room_is_stored_with_its_mode_in_force_and_nothing_pending(world: World) -> None:
    owner = await world.new_user_id()

    room = await world.new_room(owner, "Council", goal="Decide", mode=Mode.MANUAL, manager_model="deepseek")

    assert room.current_mode is Mode.MANUAL
    assert room.pending_mode is None
    assert (room.created_at, room.updated_at) == (START, START)
    assert await GetRoom(world.rooms).execute(owner, room.id) == room


async def test_an_unknown_manager_model_is_refused_and_nothing_is_stored(world: World) -> None:
    owner = await world.new_user_id()

    with pytest.raises(UnknownModel):
        await world.new_room(owner, manager_model="gpt-9000")

    assert (await ListRooms(world.rooms).execute(owner, limit=50, cursor=None))[0] == []


async def test_rooms_are_listed_newest_first_and_only_the_owners(world: World) -> None:
    owner, other = await world.new_user_id(), await world.new_user_id()
    first = await world.new_room(owner, "first")
    world.clock.advance()
    second = await world.new_room(owner, "second")
    await world.new_room(other, "not yours")

    assert [r.id for r in (await ListRooms(world.rooms).execute(owner, limit=50, cursor=None))[0]] == [
        second.id,
        first.id,
    ]


@pytest.mark.parametrize("room_id", ["someone else's", "missing"])
async def test_another_users_room_is_not_found_like_a_missing_one(world: World, room_id: str) -> None:
    owner, intruder = await world.new_user_id(), await world.new_user_id()
    room = await world.new_room(owner)
    target = room.id if room_id == "someone else's" else uuid4()

    with pytest.raises(NotFound):
        await GetRoom(world.rooms).execute(intruder, target)
    with pytest.raises(NotFound):
        await UpdateRoom(world.rooms, world.catalog, world.clock).execute(intruder, target, {"name": "mine"})
    with pytest.raises(NotFound):
        await ChangeMode(world.rooms, world.clock).execute(intruder, target, Mode.ROUNDTABLE)
    with pytest.raises(NotFound):
        await DeleteRoom(world.rooms, world.clock).execute(intruder, target)
    assert await GetRoom(world.rooms).execute(owner, room.id) == room


async def test_patch_changes_only_the_fields_it_names(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner, "Old", goal="Keep me", manager_model="deepseek")
    later = world.clock.advance(60)

    updated = await UpdateRoom(world.rooms, world.catalog, world.clock).execute(owner, room.id, {"name": "New"})

    assert (updated.name, updated.goal, updated.manager_model) == ("New", "Keep me", "deepseek")
    assert (updated.created_at, updated.updated_at) == (START, later)
    assert await GetRoom(world.rooms).execute(owner, room.id) == updated


async def test_patch_can_set_goal_and_manager_model_to_null(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner, goal="Decide", manager_model="deepseek")

    changes: dict[str, object] = {"goal": None, "manager_model": None}
    await UpdateRoom(world.rooms, world.catalog, world.clock).execute(owner, room.id, changes)

    stored = await GetRoom(world.rooms).execute(owner, room.id)
    assert (stored.name, stored.goal, stored.manager_model) == (room.name, None, None)


async def test_an_empty_patch_changes_nothing_not_even_updated_at(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    world.clock.advance()

    assert await UpdateRoom(world.rooms, world.catalog, world.clock).execute(owner, room.id, {}) == room
    assert await GetRoom(world.rooms).execute(owner, room.id) == room


async def test_patch_with_an_unknown_manager_model_is_refused_and_changes_nothing(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner, "Keep")

    with pytest.raises(UnknownModel):
        await UpdateRoom(world.rooms, world.catalog, world.clock).execute(
            owner, room.id, {"name": "Lost", "manager_model": "gpt-9000"}
        )

    assert await GetRoom(world.rooms).execute(owner, room.id) == room


async def test_a_mode_change_waits_in_pending_and_the_latest_request_wins(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner, mode=Mode.MANUAL)
    change = ChangeMode(world.rooms, world.clock)

    after_first = await change.execute(owner, room.id, Mode.ROUNDTABLE)
    assert (after_first.current_mode, after_first.pending_mode) == (Mode.MANUAL, Mode.ROUNDTABLE)

    await change.execute(owner, room.id, Mode.ORCHESTRATOR)
    stored = await GetRoom(world.rooms).execute(owner, room.id)
    assert (stored.current_mode, stored.pending_mode) == (Mode.MANUAL, Mode.ORCHESTRATOR)


async def test_requesting_the_mode_in_force_clears_the_pending_change(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner, mode=Mode.ROUNDTABLE)
    change = ChangeMode(world.rooms, world.clock)
    await change.execute(owner, room.id, Mode.ORCHESTRATOR)

    cleared = await change.execute(owner, room.id, Mode.ROUNDTABLE)

    assert (cleared.current_mode, cleared.pending_mode) == (Mode.ROUNDTABLE, None)
    assert (await GetRoom(world.rooms).execute(owner, room.id)).pending_mode is None


async def test_a_deleted_room_is_gone_and_cannot_be_deleted_twice(world: World) -> None:
    owner = await world.new_user_id()
    kept, doomed = await world.new_room(owner, "kept"), await world.new_room(owner, "doomed")
    delete = DeleteRoom(world.rooms, world.clock)

    await delete.execute(owner, doomed.id)

    assert [r.id for r in (await ListRooms(world.rooms).execute(owner, limit=50, cursor=None))[0]] == [kept.id]
    with pytest.raises(NotFound):
        await GetRoom(world.rooms).execute(owner, doomed.id)
    with pytest.raises(NotFound):
        await ChangeMode(world.rooms, world.clock).execute(owner, doomed.id, Mode.ROUNDTABLE)
    with pytest.raises(NotFound):
        await delete.execute(owner, doomed.id)


async def test_ids_come_from_the_id_port(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)

    assert (owner, room.id) == (UUID(int=1), UUID(int=2))
