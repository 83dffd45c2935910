"""The roster: add (default position, unique keys, known models), list, edit, remove."""

from __future__ import annotations

from uuid import uuid4

import pytest

from application.use_cases.agents import MAX_POSITION, ListAgents, RemoveAgent, UpdateAgent
from application.use_cases.rooms import DeleteRoom
from domain.errors import AgentKeyTaken, NotFound, UnknownModel
from tests.unit.use_cases.conftest import World


async def roster(world: World, owner, room_id) -> list[tuple[str, int]]:
    return [(a.agent_key, a.position) for a in await ListAgents(world.rooms, world.agents).execute(owner, room_id)]


async def test_an_agent_without_a_position_goes_after_the_last(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)

    first = await world.new_agent(owner, room.id, "alpha")
    await world.new_agent(owner, room.id, "beta", position=7)
    last = await world.new_agent(owner, room.id, "gamma")

    assert first.position == 0
    assert last.position == 8
    assert await roster(world, owner, room.id) == [("alpha", 0), ("beta", 7), ("gamma", 8)]


async def test_the_default_position_never_passes_the_limit(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    await world.new_agent(owner, room.id, "last", position=MAX_POSITION)

    assert (await world.new_agent(owner, room.id, "later")).position == MAX_POSITION


async def test_the_roster_is_ordered_by_position_then_key(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    for key, position in [("zed", 1), ("bob", 2), ("amy", 2), ("kim", 0)]:
        await world.new_agent(owner, room.id, key, position=position)

    assert await roster(world, owner, room.id) == [("kim", 0), ("zed", 1), ("amy", 2), ("bob", 2)]


async def test_an_agent_key_is_unique_within_its_room_only(world: World) -> None:
    owner = await world.new_user_id()
    room, other_room = await world.new_room(owner), await world.new_room(owner)
    await world.new_agent(owner, room.id, "critic")

    with pytest.raises(AgentKeyTaken):
        await world.new_agent(owner, room.id, "critic")
    await world.new_agent(owner, other_room.id, "critic")

    assert await roster(world, owner, room.id) == [("critic", 0)]
    assert await roster(world, owner, other_room.id) == [("critic", 0)]


async def test_an_unknown_model_is_refused(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)

    with pytest.raises(UnknownModel):
        await world.new_agent(owner, room.id, "critic", model="gpt-9000")
    assert await roster(world, owner, room.id) == []


async def test_another_users_room_and_its_agents_are_not_found(world: World) -> None:
    owner, intruder = await world.new_user_id(), await world.new_user_id()
    room = await world.new_room(owner)
    agent = await world.new_agent(owner, room.id, "critic")

    with pytest.raises(NotFound):
        await world.new_agent(intruder, room.id, "spy")
    with pytest.raises(NotFound):
        await ListAgents(world.rooms, world.agents).execute(intruder, room.id)
    with pytest.raises(NotFound):
        await UpdateAgent(world.agents, world.catalog).execute(intruder, room.id, agent.id, {"name": "Spy"})
    with pytest.raises(NotFound):
        await RemoveAgent(world.agents).execute(intruder, room.id, agent.id)
    assert await roster(world, owner, room.id) == [("critic", 0)]


async def test_update_changes_the_named_fields_and_checks_the_model(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    agent = await world.new_agent(owner, room.id, "critic")
    update = UpdateAgent(world.agents, world.catalog)

    updated = await update.execute(owner, room.id, agent.id, {"model": "deepseek", "position": 3})
    with pytest.raises(UnknownModel):
        await update.execute(owner, room.id, agent.id, {"model": "gpt-9000"})

    [stored] = await ListAgents(world.rooms, world.agents).execute(owner, room.id)
    assert stored == updated
    assert (stored.agent_key, stored.name, stored.model, stored.position) == ("critic", "Critic", "deepseek", 3)


async def test_an_agent_of_another_room_of_the_same_owner_is_not_found(world: World) -> None:
    owner = await world.new_user_id()
    room, other_room = await world.new_room(owner), await world.new_room(owner)
    agent = await world.new_agent(owner, room.id, "critic")

    with pytest.raises(NotFound):
        await UpdateAgent(world.agents, world.catalog).execute(owner, other_room.id, agent.id, {"name": "X"})
    with pytest.raises(NotFound):
        await RemoveAgent(world.agents).execute(owner, other_room.id, agent.id)


async def test_a_removed_agent_leaves_the_roster_and_cannot_be_removed_twice(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    gone = await world.new_agent(owner, room.id, "gone")
    await world.new_agent(owner, room.id, "kept")

    await RemoveAgent(world.agents).execute(owner, room.id, gone.id)

    assert await roster(world, owner, room.id) == [("kept", 1)]
    with pytest.raises(NotFound):
        await RemoveAgent(world.agents).execute(owner, room.id, gone.id)
    with pytest.raises(NotFound):
        await RemoveAgent(world.agents).execute(owner, room.id, uuid4())


async def test_the_agents_of_a_deleted_room_are_not_found(world: World) -> None:
    owner = await world.new_user_id()
    room = await world.new_room(owner)
    agent = await world.new_agent(owner, room.id, "critic")
    await DeleteRoom(world.rooms, world.clock).execute(owner, room.id)

    with pytest.raises(NotFound):
        await world.new_agent(owner, room.id, "late")
    with pytest.raises(NotFound):
        await ListAgents(world.rooms, world.agents).execute(owner, room.id)
    with pytest.raises(NotFound):
        await UpdateAgent(world.agents, world.catalog).execute(owner, room.id, agent.id, {"name": "X"})
    with pytest.raises(NotFound):
        await RemoveAgent(world.agents).execute(owner, room.id, agent.id)
