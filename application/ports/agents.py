from __future__ import annotations

from typing import Protocol
from uuid import UUID

from domain.model import Agent


class AgentStore(Protocol):
    async def add_agent(self, agent: Agent, *, limit: int) -> None:
        """Insert, atomically with the check that the room has fewer than `limit` agents (TooManyAgents
        otherwise, also under concurrent adds); AgentKeyTaken when the room already has the key."""
        ...

    async def agents_of(self, owner_id: UUID, room_id: UUID) -> list[Agent]:
        """The roster of the owner's live room ordered by position (then key)."""
        ...

    async def agent_of(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> Agent | None: ...

    async def save_agent(self, agent: Agent) -> None: ...

    async def remove_agent(self, owner_id: UUID, room_id: UUID, agent_id: UUID) -> bool: ...
