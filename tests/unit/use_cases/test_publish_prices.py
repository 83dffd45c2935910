"""Publishing the configuration's price overrides as a pricing version, on the in-memory pricing store."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from adapters.memory.stores import MemoryPricingStore
from application.use_cases.publish_prices import (
    PriceOverride,
    PublishPrices,
    apply_overrides,
    content_digest,
    version_name,
)
from domain.pricing import ModelPrice, PricingVersion

NOW = datetime(2026, 3, 5, 14, 22, 7, 123456, tzinfo=UTC)
NAME = re.compile(r"^2026-03-05T142207Z-[0-9a-f]{8}$")


def price(alias: str, multiplier: str, inp: str, cached: str, out: str) -> ModelPrice:
    return ModelPrice(
        alias=alias,
        multiplier=Decimal(multiplier),
        input_usd_per_mtok=Decimal(inp),
        cached_input_usd_per_mtok=Decimal(cached),
        output_usd_per_mtok=Decimal(out),
    )


SEED = PricingVersion(
    version="2026-02-20",
    effective_from=datetime(2026, 2, 20, tzinfo=UTC),
    fresh_input_weight=Decimal("0.35"),
    cached_input_weight=Decimal("0.10"),
    output_weight=Decimal("1.0"),
    oe_tokens_per_credit=Decimal(10_000),
    multiplier_floor=Decimal("0.5"),
    default_multiplier=Decimal("1.0"),
    models={
        "sim": price("sim", "1.00", "0", "0", "0"),
        "llama": price("llama", "0.50", "0.13", "0.065", "0.40"),
        "kimi": price("kimi", "2.40", "0.60", "0.15", "2.50"),
    },
)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


class Overrides:
    def __init__(self, *overrides: PriceOverride) -> None:
        self.items = list(overrides)

    def price_overrides(self) -> list[PriceOverride]:
        return list(self.items)


def publisher(store: MemoryPricingStore, *overrides: PriceOverride, now: datetime = NOW) -> PublishPrices:
    return PublishPrices(store, Overrides(*overrides), Clock(now))


async def test_no_overrides_publish_nothing() -> None:
    store = MemoryPricingStore([SEED])

    assert await publisher(store).execute() is None
    assert await store.pricing_versions() == [SEED]


async def test_overrides_equal_to_the_active_prices_publish_nothing() -> None:
    store = MemoryPricingStore([SEED])
    same = PriceOverride(alias="llama", multiplier=Decimal("0.5"), output_usd_per_mtok=Decimal("0.4000"))

    assert await publisher(store, same).execute() is None
    assert [v.version for v in await store.pricing_versions()] == ["2026-02-20"]


async def test_a_changed_price_publishes_the_active_version_plus_the_override_effective_now() -> None:
    store = MemoryPricingStore([SEED])

    published = await publisher(store, PriceOverride(alias="llama", multiplier=Decimal("0.75"))).execute()

    assert published is not None and NAME.match(published.version), published
    assert published.effective_from == NOW
    assert (await store.active_version()) == published
    assert (
        msgspec.structs.replace(published, version=SEED.version, effective_from=SEED.effective_from, models=SEED.models)
        == SEED
    )  # same weights, floor and default multiplier
    # Only the overridden figure changed: llama keeps its USD prices, the other models are untouched.
    assert published.models == {**SEED.models, "llama": price("llama", "0.75", "0.13", "0.065", "0.40")}
    assert await store.pricing_version("2026-02-20") == SEED  # the old version is never modified


async def test_restarting_with_the_same_overrides_publishes_nothing_new() -> None:
    store = MemoryPricingStore([SEED])
    override = PriceOverride(alias="llama", multiplier=Decimal("0.75"))
    first = await publisher(store, override).execute()

    again = await publisher(store, override, now=datetime(2026, 3, 6, tzinfo=UTC)).execute()

    assert first is not None and again is None
    assert [v.version for v in await store.pricing_versions()] == [first.version, "2026-02-20"]


async def test_an_alias_the_active_version_does_not_price_starts_from_the_defaults() -> None:
    store = MemoryPricingStore([SEED])
    only_output = PriceOverride(alias="llama-local", output_usd_per_mtok=Decimal("0.40"))

    published = await publisher(store, only_output).execute()

    assert published is not None
    assert published.models["llama-local"] == price("llama-local", "1.0", "0", "0", "0.40")


async def test_a_changed_configuration_publishes_on_top_of_the_previous_overrides() -> None:
    store = MemoryPricingStore([SEED])
    first = await publisher(
        store,
        PriceOverride(alias="llama", multiplier=Decimal("0.75")),
        PriceOverride(alias="local", multiplier=Decimal("0.2")),
    ).execute()

    second = await publisher(
        store, PriceOverride(alias="local", multiplier=Decimal("0.3")), now=datetime(2026, 3, 6, tzinfo=UTC)
    ).execute()

    assert first is not None and second is not None and second.version != first.version
    assert second.models["local"].multiplier == Decimal("0.3")
    assert second.models["llama"].multiplier == Decimal("0.75")  # the active version plus the new overrides
    assert (await store.active_version()).version == second.version


async def test_prices_are_stored_at_the_columns_precision_so_a_restart_compares_equal() -> None:
    store = MemoryPricingStore([SEED])
    precise = PriceOverride(alias="kimi", multiplier=Decimal("2.123456"), input_usd_per_mtok=Decimal("0.1234567891"))

    published = await publisher(store, precise).execute()

    assert published is not None
    assert published.models["kimi"].multiplier == Decimal("2.1235")
    assert published.models["kimi"].input_usd_per_mtok == Decimal("0.12345679")
    assert await publisher(store, precise, now=datetime(2026, 3, 6, tzinfo=UTC)).execute() is None


def test_the_version_name_is_the_time_and_a_hash_of_the_prices_not_of_their_spelling() -> None:
    spelled_a = msgspec.structs.replace(
        SEED, models=apply_overrides(SEED, [PriceOverride(alias="llama", multiplier=Decimal("0.7"))])
    )
    spelled_b = msgspec.structs.replace(
        SEED,
        version="other",
        models=apply_overrides(SEED, [PriceOverride(alias="llama", multiplier=Decimal("0.7000"))]),
    )
    different = msgspec.structs.replace(
        SEED, models=apply_overrides(SEED, [PriceOverride(alias="llama", multiplier=Decimal("0.71"))])
    )

    assert content_digest(spelled_a) == content_digest(spelled_b) != content_digest(different)
    assert version_name(NOW, spelled_a) == version_name(NOW, spelled_b)
    assert NAME.match(version_name(NOW, different))


class RacingStore(MemoryPricingStore):
    """Another server process publishes `rival` just before each of our publish attempts."""

    def __init__(self, versions: list[PricingVersion], rivals: list[PricingVersion]) -> None:
        super().__init__(versions)
        self.rivals = rivals

    async def publish_version(self, version: PricingVersion, *, replacing: str) -> bool:
        if self.rivals:
            rival = self.rivals.pop(0)
            assert await super().publish_version(rival, replacing=(await self.active_version()).version)
        return await super().publish_version(version, replacing=replacing)


async def test_losing_the_race_to_another_process_with_the_same_config_publishes_nothing() -> None:
    override = PriceOverride(alias="llama", multiplier=Decimal("0.75"))
    rival = msgspec.structs.replace(
        SEED,
        version="rival",
        effective_from=datetime(2026, 3, 5, 14, tzinfo=UTC),
        models=apply_overrides(SEED, [override]),
    )
    store = RacingStore([SEED], [rival])

    assert await publisher(store, override).execute() is None
    assert [v.version for v in await store.pricing_versions()] == ["rival", "2026-02-20"]


async def test_losing_the_race_to_a_different_config_publishes_on_top_of_the_winner() -> None:
    rival = msgspec.structs.replace(
        SEED,
        version="rival",
        effective_from=datetime(2026, 3, 5, 14, tzinfo=UTC),
        models={**SEED.models, "kimi": price("kimi", "9", "1", "1", "1")},
    )
    store = RacingStore([SEED], [rival])

    published = await publisher(store, PriceOverride(alias="llama", multiplier=Decimal("0.75"))).execute()

    assert published is not None
    assert published.models["kimi"].multiplier == Decimal("9") and published.models["llama"].multiplier == Decimal(
        "0.75"
    )
    assert [v.version for v in await store.pricing_versions()] == [published.version, "rival", "2026-02-20"]


async def test_a_clock_behind_the_active_version_still_publishes_a_version_that_is_in_force() -> None:
    store = MemoryPricingStore([SEED])

    published = await publisher(
        store, PriceOverride(alias="llama", multiplier=Decimal("0.75")), now=datetime(2026, 2, 19, tzinfo=UTC)
    ).execute()

    assert published is not None and published.effective_from > SEED.effective_from
    assert (await store.active_version()).version == published.version
