"""The roster of a room: add, list, edit, remove agents."""

from __future__ import annotations

from uuid import UUID

import msgspec

from application.ports.agents import AgentStore
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.rooms import RoomStore
from application.use_cases.rooms import check_model, require_room
from domain.errors import NotFound
from domain.model import Agent

MAX_POSITION = 10_000
DEFAULT_MAX_AGENTS = 32  # PANTHEON_MAX_AGENTS_PER_ROOM: a roundtable calls every agent, each a paid call


class AddAgent:
    def __init__(
        self,
        rooms: RoomStore,
        agents: AgentStore,
        catalog: ModelCatalog,
        clock: Clock,
        ids: IdGenerator,
        *,
        max_agents: int = DEFAULT_MAX_AGENTS,
    ) -> None:
        self._rooms, self._agents, self._catalog, self._clock, self._ids = rooms, agents, catalog, clock, ids
        self._max_agents = max_agents

    async def execute(
        self,
        owner_id: UUID,
        room_id: UUID,
        *,
        agent_key: str,
        name: str,
        model: str,
        role_prompt: str,
        position: int | None,
    ) -> Agent:
        await require_room(self._rooms, owner_id, room_id)
        check_model(self._catalog, model)
        if position is None:
            roster = await self._agents.agents_of(owner_id, room_id)
            position = min(MAX_POSITION, max((a.position for a in roster), default=-1) + 1)
        agent = Agent(
            id=self._ids.new_id(),
            room_id=room_id,
            agent_key=agent_key,
            name=name,
            model=model,
            role_prompt=role_prompt,
            position=position,
            created_at=self._clock.now(),
        )
        await self._agents.add_agent(agent, limit=self._max_agents)
        return agent


class ListAgents:
    def __init__(self, rooms: RoomStore, agents: AgentStore) -> None:
        self._rooms, self._agents = rooms, agents

    async def execute(self, owner_id: UUID, room_id: UUID) -> list[Agent]:
        await require_room(self._rooms, owner_id, room_id)
        return await self._agents.agents_of(owner_id, room_id)


class UpdateAgent:
    def __init__(self, agents: AgentStore, catalog: ModelCatalog) -> None:
        self._agents, self._catalog = agents, catalog

    async def execute(self, owner_id: UUID, room_id: UUID, agent_id: UUID, changes: dict[str, object]) -> Agent:
        agent = await self._agents.agent_of(owner_id, room_id, agent_id)
        if agent is None:
            raise NotFound("No such agent.")
        if "model" in changes:
            check_model(self._catalog, changes["model"])  # type: ignore[arg-type]
        if not changes:
            return agent
        agent = msgspec.structs.replace(agent, **changes)
        await self._agents.save_agent(agent)
        return agent


class RemoveAgent:
    def __init__(self, agents: AgentStore) -> None:
        self._agents = agents

    async def execute(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> None:
        if not await self._agents.remove_agent(owner_id, room_id, agent_id):
            raise NotFound("No such agent.")
