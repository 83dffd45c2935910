"""PostgresPricingStore.publish_version and PublishPrices on the real schema."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.pricing import PostgresPricingStore
from application.use_cases.publish_prices import PriceOverride, PublishPrices, apply_overrides
from domain.pricing import ModelPrice

SEED = "2026-02-20"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class Overrides:
    def __init__(self, *items: PriceOverride) -> None:
        self.items = list(items)

    def price_overrides(self) -> list[PriceOverride]:
        return list(self.items)


def just_now() -> datetime:
    # A moment ago, so that a version published with it is in force at once.
    return datetime.now(UTC) - timedelta(milliseconds=100)


async def versions(pool: AsyncConnectionPool) -> list[str]:
    return [v.version for v in await PostgresPricingStore(pool).pricing_versions()]


async def test_publish_refuses_when_the_replaced_version_is_not_in_force(pool: AsyncConnectionPool) -> None:
    store = PostgresPricingStore(pool)
    seed = await store.active_version()
    candidate = msgspec.structs.replace(seed, version="never", effective_from=just_now())

    assert await store.publish_version(candidate, replacing="1999-01-01") is False
    assert await store.publish_version(msgspec.structs.replace(candidate, version=SEED), replacing=SEED) is False
    assert await versions(pool) == [SEED]


async def test_a_published_version_is_stored_exactly_becomes_active_and_is_immutable(pool: AsyncConnectionPool) -> None:
    store = PostgresPricingStore(pool)
    seed = await store.active_version()
    models = apply_overrides(
        seed,
        [
            PriceOverride(alias="llama", multiplier=Decimal("0.75")),
            PriceOverride(alias="local-llm", output_usd_per_mtok=Decimal("0.12345678")),
        ],
    )
    candidate = msgspec.structs.replace(seed, version="store-test-1", effective_from=just_now(), models=models)

    assert await store.publish_version(candidate, replacing=SEED) is True

    fresh = PostgresPricingStore(pool)  # no cache: read back from the tables
    assert await fresh.pricing_version("store-test-1") == candidate
    assert await fresh.active_version() == candidate
    assert (await fresh.pricing_version(SEED)) == seed
    assert candidate.models["local-llm"] == ModelPrice(
        alias="local-llm",
        multiplier=Decimal("1.0"),
        input_usd_per_mtok=Decimal(0),
        cached_input_usd_per_mtok=Decimal(0),
        output_usd_per_mtok=Decimal("0.12345678"),
    )
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("SELECT version, overage_usd_per_credit FROM pricing_versions ORDER BY version")
        ).fetchall()
        assert {r["version"]: r["overage_usd_per_credit"] for r in rows}["store-test-1"] == Decimal("0.03")
        with pytest.raises(psycopg.errors.RestrictViolation):
            await conn.execute("UPDATE model_pricing SET multiplier = 9 WHERE version = 'store-test-1'")
        with pytest.raises(psycopg.errors.RestrictViolation):
            await conn.execute("DELETE FROM pricing_versions WHERE version = 'store-test-1'")


async def test_servers_starting_together_with_the_same_config_publish_one_version(pool: AsyncConnectionPool) -> None:
    before = await versions(pool)
    override = PriceOverride(alias="kimi", multiplier=Decimal("3.3"))
    at = just_now()
    # Different clocks so that each would pick a different name: only the lock keeps them from both publishing.
    starts = [
        PublishPrices(PostgresPricingStore(pool), Overrides(override), Clock(at + timedelta(microseconds=i)))
        for i in range(5)
    ]

    results = await asyncio.gather(*(start.execute() for start in starts))

    published = [r for r in results if r is not None]
    assert len(published) == 1
    assert await versions(pool) == [published[0].version, *before]
    active = await PostgresPricingStore(pool).active_version()
    assert active.version == published[0].version and active.models["kimi"].multiplier == Decimal("3.3")
    # And a later start with the same configuration publishes nothing.
    assert await PublishPrices(PostgresPricingStore(pool), Overrides(override), Clock(just_now())).execute() is None
