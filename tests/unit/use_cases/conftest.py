"""Use cases wired to the in-memory stores, a clock that stands still and sequential ids."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from adapters.memory.catalog import MemoryCatalog
from adapters.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryPricingStore,
    MemoryRoomStore,
    MemorySessionStore,
    MemoryUserStore,
)
from adapters.memory.system import FixedClock, SequentialIds
from application.use_cases import agents, catalog, rooms, sessions, users
from domain.model import Agent, Mode, Room, Session
from tests.support.seeded import CATALOG_SPECS, pricing_version

if TYPE_CHECKING:
    from tests.unit.use_cases.turn_world import TurnWorld


class World:
    def __init__(self) -> None:
        self.db = MemoryDatabase()
        self.clock = FixedClock()
        self.ids = SequentialIds()
        self.catalog = MemoryCatalog(CATALOG_SPECS)
        self.users = MemoryUserStore(self.db)
        self.rooms = MemoryRoomStore(self.db)
        self.agents = MemoryAgentStore(self.db)
        self.sessions = MemorySessionStore(self.db)
        self.pricing = MemoryPricingStore([pricing_version()])

    def register(self, *, open_signup: bool = True) -> users.RegisterUser:
        return users.RegisterUser(self.users, self.clock, self.ids, open_signup=open_signup)

    async def new_user_id(self, email: str | None = None) -> UUID:
        registration = await self.register().execute(email or f"u{self.ids.issued + 1}@example.com", None)
        return registration.user.id

    async def new_room(self, owner_id: UUID, name: str = "Room", **kwargs: object) -> Room:
        args: dict[str, object] = {"goal": None, "mode": Mode.MANUAL, "manager_model": None, **kwargs}
        return await rooms.CreateRoom(self.rooms, self.catalog, self.clock, self.ids).execute(
            owner_id, name=name, **args
        )  # type: ignore[arg-type]

    async def new_agent(
        self, owner_id: UUID, room_id: UUID, agent_key: str, *, model: str = "sim", position: int | None = None
    ) -> Agent:
        add = agents.AddAgent(self.rooms, self.agents, self.catalog, self.clock, self.ids)
        return await add.execute(
            owner_id,
            room_id,
            agent_key=agent_key,
            name=agent_key.title(),
            model=model,
            role_prompt=f"You are {agent_key}.",
            position=position,
        )

    async def new_session(self, owner_id: UUID, room_id: UUID) -> Session:
        return await sessions.OpenSession(self.rooms, self.sessions, self.clock, self.ids).execute(owner_id, room_id)

    def list_models(self) -> catalog.ListModels:
        return catalog.ListModels(self.catalog, self.pricing)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def tw() -> TurnWorld:
    from tests.unit.use_cases.turn_world import TurnWorld  # it builds on World, defined above

    return TurnWorld()
