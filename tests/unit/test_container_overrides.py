"""The container is the one place that names adapters: a test swaps every storage and model provider
for in-memory fakes and the whole HTTP app runs without PostgreSQL or a network."""

from __future__ import annotations

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient
from psycopg_pool import PoolTimeout

from adapters.llm.catalog import CatalogError
from adapters.llm.simulated import SimulatedLlm
from adapters.memory.signals import MemoryTurnEventSignals
from adapters.memory.stops import MemoryStopStore
from adapters.memory.stores import (
    MemoryAgentStore,
    MemoryDatabase,
    MemoryPricingStore,
    MemoryRoomStore,
    MemorySessionStore,
    MemoryUserStore,
)
from adapters.memory.turns import (
    MemoryHistoryStore,
    MemoryStepRecorder,
    MemorySummaryStore,
    MemoryTurnEventStore,
    MemoryTurnStore,
    MemoryUsageLedger,
    SequentialTurnRunner,
)
from adapters.memory.wallet import MemoryAdminStore, MemoryWalletStore
from adapters.postgres.health import DatabaseHealth
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.support.seeded import pricing_version


def fake_container() -> tuple[Container, MemoryDatabase]:
    container = Container(
        settings=Settings(database_url="postgresql://nowhere/none"), database_url="postgresql://nowhere/none"
    )
    db = turns = MemoryDatabase()
    container.user_store.override(providers.Object(MemoryUserStore(db)))
    container.room_store.override(providers.Object(MemoryRoomStore(db)))
    container.agent_store.override(providers.Object(MemoryAgentStore(db)))
    container.session_store.override(providers.Object(MemorySessionStore(db)))
    container.pricing_store.override(providers.Object(MemoryPricingStore([pricing_version()])))
    container.turn_store.override(providers.Object(MemoryTurnStore(db)))
    container.history_store.override(providers.Object(MemoryHistoryStore(db)))
    container.step_recorder.override(providers.Object(MemoryStepRecorder(db)))
    container.memory_store.override(providers.Object(MemorySummaryStore(db)))
    container.event_store.override(providers.Object(MemoryTurnEventStore(db)))
    container.usage_ledger.override(providers.Object(MemoryUsageLedger(db)))
    container.wallet_store.override(providers.Object(MemoryWalletStore(db)))
    container.admin_store.override(providers.Object(MemoryAdminStore(db)))
    container.stop_store.override(providers.Object(MemoryStopStore(db)))
    container.turn_signals.override(providers.Object(MemoryTurnEventSignals(db)))
    container.llm.override(providers.Object(SimulatedLlm()))
    container.runner.override(providers.Object(SequentialTurnRunner()))
    container.db_health.override(providers.Object(DatabaseHealth(DownPool())))  # never probed in these tests
    return container, turns


class DownPool:
    """A pool whose database is gone: no connection, within its wait."""

    def connection(self, timeout: float | None = None):
        raise PoolTimeout("couldn't get a connection after 2.00 sec")

    def get_stats(self) -> dict[str, int]:
        return {"pool_size": 0, "pool_available": 0, "requests_waiting": 0}


async def test_the_http_app_runs_a_turn_on_fakes_only() -> None:
    container, turns = fake_container()
    async with AsyncTestClient(create_app(container, manage_resources=False)) as client:
        signup = await client.post("/api/v1/users", json={"email": "fake@example.com"})
        headers = {"Authorization": f"Bearer {signup.json()['api_key']}"}
        room = (await client.post("/api/v1/rooms", json={"name": "r", "mode": "roundtable"}, headers=headers)).json()
        for key in ("ada", "bob"):
            created = await client.post(
                f"/api/v1/rooms/{room['id']}/agents",
                headers=headers,
                json={"agent_key": key, "name": key, "model": "sim", "role_prompt": "hi"},
            )
            assert created.status_code == 201, created.text
        session = (await client.post(f"/api/v1/rooms/{room['id']}/sessions", json={}, headers=headers)).json()
        turn = await client.post(f"/api/v1/sessions/{session['id']}/turns", json={"message": "go"}, headers=headers)
    assert turn.status_code == 201, turn.text
    assert [s["agent_key"] for s in turn.json()["steps"]] == ["ada", "bob"]
    assert len(turns.ledger) == 2 and len(turns.steps) == 2


async def test_a_database_outage_answers_503_not_500() -> None:
    container, _ = fake_container()
    async with AsyncTestClient(create_app(container, manage_resources=False)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"


async def test_an_unknown_default_manager_model_stops_the_start_naming_the_setting() -> None:
    container, _ = fake_container()
    container.settings.override(
        providers.Object(Settings(database_url="postgresql://nowhere/none", manager_model="gpt-9000"))
    )
    with pytest.raises(ExceptionGroup) as raised:  # the lifespan's error, as the test client's task group raises it
        async with AsyncTestClient(create_app(container, manage_resources=False)):
            pass
    message = r"PANTHEON_MANAGER_MODEL: unknown model alias 'gpt-9000'; configured aliases: .*\bsim\b"
    assert raised.group_contains(CatalogError, match=message)


async def test_orchestrated_rooms_without_a_manager_use_the_configured_default() -> None:
    container, _ = fake_container()
    container.settings.override(
        providers.Object(Settings(database_url="postgresql://nowhere/none", manager_model="sim-slow"))
    )
    async with AsyncTestClient(create_app(container, manage_resources=False)) as client:
        signup = await client.post("/api/v1/users", json={"email": "boss@example.com"})
        headers = {"Authorization": f"Bearer {signup.json()['api_key']}"}
        room = (await client.post("/api/v1/rooms", json={"name": "r", "mode": "orchestrator"}, headers=headers)).json()
        assert room["manager_model"] is None
        agent = {"agent_key": "ada", "name": "Ada", "model": "sim", "role_prompt": "hi"}
        await client.post(f"/api/v1/rooms/{room['id']}/agents", headers=headers, json=agent)
        session = (await client.post(f"/api/v1/rooms/{room['id']}/sessions", json={}, headers=headers)).json()
        turn = await client.post(f"/api/v1/sessions/{session['id']}/turns", json={"message": "go"}, headers=headers)
    assert turn.status_code == 201, turn.text
    assert [(s["kind"], s["model"]) for s in turn.json()["steps"]] == [
        ("manager", "sim-slow"),
        ("agent", "sim"),
        ("manager", "sim-slow"),
        ("synthesis", "sim-slow"),
    ]
