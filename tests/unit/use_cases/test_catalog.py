"""Model listing and pricing versions, with the seeded 2026-02-20 price list."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.memory.catalog import MemoryCatalog
from adapters.memory.stores import MemoryPricingStore
from application.use_cases.catalog import GetPricing, ListModels, ListPricing
from domain.errors import NotFound
from tests.support.seeded import CATALOG_SPECS, SEED_PRICES, pricing_version
from tests.unit.use_cases.conftest import World

# Published after the seed and already in force; raises kimi's multiplier.
SPRING = pricing_version(
    "2026-03-01", datetime(2026, 3, 1, tzinfo=UTC), {**SEED_PRICES, "kimi": ("3.00", "1", "1", "1")}
)
# Published but not yet in force.
FUTURE = pricing_version("2999-01-01", datetime(2999, 1, 1, tzinfo=UTC), {"kimi": ("9.99", "1", "1", "1")})


async def test_models_carry_their_multiplier_from_the_active_pricing_version(world: World) -> None:
    listing = {m.alias: m for m in await world.list_models().execute()}

    assert [m.alias for m in listing.values()] == [s.alias for s in CATALOG_SPECS]
    assert listing["sim"].multiplier == Decimal("1.00")
    assert listing["kimi"].multiplier == Decimal("2.40")
    assert listing["claude-opus"].multiplier == Decimal("30.00")


async def test_an_alias_without_a_price_row_gets_the_default_multiplier(world: World) -> None:
    listing = {m.alias: m for m in await world.list_models().execute()}

    assert "premium" not in SEED_PRICES
    assert listing["premium"].multiplier == Decimal("1.0")


async def test_models_show_the_catalogs_wiring_and_availability(world: World) -> None:
    listing = {m.alias: m for m in await world.list_models().execute()}

    sim, deepseek = listing["sim"], listing["deepseek"]
    assert (sim.provider, sim.provider_model, sim.context_window, sim.available) == (
        "simulated",
        "vendor/sim",
        131_072,
        True,
    )
    assert (deepseek.provider, deepseek.available) == ("openrouter", False)


async def test_the_newest_version_in_force_prices_the_models() -> None:
    pricing = MemoryPricingStore([pricing_version(), SPRING, FUTURE])

    listing = {m.alias: m for m in await ListModels(MemoryCatalog(CATALOG_SPECS), pricing).execute()}

    assert listing["kimi"].multiplier == Decimal("3.00")


async def test_pricing_lists_every_version_and_names_the_active_one() -> None:
    pricing = MemoryPricingStore([pricing_version(), SPRING, FUTURE])

    active, versions = await ListPricing(pricing).execute()

    assert active == "2026-03-01"
    assert {v.version for v in versions} == {"2026-02-20", "2026-03-01", "2999-01-01"}


async def test_a_pricing_version_is_found_by_name_or_not_found(world: World) -> None:
    seed = await GetPricing(world.pricing).execute("2026-02-20")

    assert seed == pricing_version()
    assert len(seed.models) == 17
    with pytest.raises(NotFound):
        await GetPricing(world.pricing).execute("nope")
