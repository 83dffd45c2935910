"""At start, publish the configuration's price overrides as a new pricing version (docs/design.md, "LLM providers").

A model alias in the TOML may carry its own prices. When they differ from the version in force, a new
immutable version is published: the active one plus these overrides, effective now. Its name is the
start time plus a short hash of its content (`2026-03-05T142207Z-3fa9c2d1`). A restart with the same
configuration finds the version in force already equal to what it would publish, and publishes nothing.

An override may set only some of an alias's four prices: the others keep the active version's values,
or, for an alias that version does not price, its default multiplier and USD prices of 0 (what such a
model is billed at anyway). Values are brought to the stored precision (multiplier 4 places, USD 8) so
that comparing them with what the database holds is exact.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

import msgspec

from application.ports.clock import Clock
from application.ports.pricing import PricingStore
from domain.pricing import ModelPrice, PricingVersion

log = logging.getLogger(__name__)

MULTIPLIER_PLACES = Decimal("0.0001")  # model_pricing.multiplier NUMERIC(10,4)
USD_PLACES = Decimal("0.00000001")  # model_pricing.*_usd_per_mtok NUMERIC(20,8)
# Losing a race to another process publishing at the same moment only means re-reading; a few rounds suffice.
MAX_ROUNDS = 3


class PriceOverride(msgspec.Struct, frozen=True, kw_only=True):
    """Prices the configuration sets for one alias; None leaves that price as the active version has it."""

    alias: str
    multiplier: Decimal | None = None
    input_usd_per_mtok: Decimal | None = None
    cached_input_usd_per_mtok: Decimal | None = None
    output_usd_per_mtok: Decimal | None = None


class PriceOverrides(Protocol):
    def price_overrides(self) -> list[PriceOverride]: ...


def _stored(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def apply_overrides(active: PricingVersion, overrides: Iterable[PriceOverride]) -> dict[str, ModelPrice]:
    """The active version's model prices with the overrides laid over them."""
    models = dict(active.models)
    for override in overrides:
        base = models.get(override.alias) or ModelPrice(
            alias=override.alias,
            multiplier=active.default_multiplier,
            input_usd_per_mtok=Decimal(0),
            cached_input_usd_per_mtok=Decimal(0),
            output_usd_per_mtok=Decimal(0),
        )

        def pick(new: Decimal | None, old: Decimal, places: Decimal) -> Decimal:
            return _stored(new, places) if new is not None else old

        models[override.alias] = ModelPrice(
            alias=override.alias,
            multiplier=pick(override.multiplier, base.multiplier, MULTIPLIER_PLACES),
            input_usd_per_mtok=pick(override.input_usd_per_mtok, base.input_usd_per_mtok, USD_PLACES),
            cached_input_usd_per_mtok=pick(
                override.cached_input_usd_per_mtok, base.cached_input_usd_per_mtok, USD_PLACES
            ),
            output_usd_per_mtok=pick(override.output_usd_per_mtok, base.output_usd_per_mtok, USD_PLACES),
        )
    return models


def _canonical(value: Decimal) -> str:
    # 0.5, 0.50 and 0.5000 are one price: hash the value, not its spelling.
    return format(value.normalize(), "f")


def content_digest(version: PricingVersion) -> str:
    """A hash of everything that prices a call (weights and model prices), not of the name or date."""
    weights = (
        version.fresh_input_weight,
        version.cached_input_weight,
        version.output_weight,
        version.oe_tokens_per_credit,
        version.multiplier_floor,
        version.default_multiplier,
    )
    lines = ["weights " + " ".join(_canonical(w) for w in weights)]
    for alias in sorted(version.models):
        price = version.models[alias]
        figures = (
            price.multiplier,
            price.input_usd_per_mtok,
            price.cached_input_usd_per_mtok,
            price.output_usd_per_mtok,
        )
        lines.append(f"{alias} " + " ".join(_canonical(f) for f in figures))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def version_name(at: datetime, version: PricingVersion) -> str:
    return f"{at:%Y-%m-%dT%H%M%SZ}-{content_digest(version)[:8]}"


class PublishPrices:
    def __init__(self, pricing: PricingStore, overrides: PriceOverrides, clock: Clock) -> None:
        self._pricing, self._overrides, self._clock = pricing, overrides, clock

    async def execute(self) -> PricingVersion | None:
        """The version published, or None when the version in force already has these prices."""
        overrides = self._overrides.price_overrides()
        if not overrides:
            return None
        for _ in range(MAX_ROUNDS):
            active = await self._pricing.active_version()
            models = apply_overrides(active, overrides)
            if models == active.models:
                return None
            # Strictly after the version it replaces, or the newest-first ordering could keep that one in force.
            now = max(self._clock.now(), active.effective_from + timedelta(microseconds=1))
            candidate = msgspec.structs.replace(active, version="", effective_from=now, models=models)
            candidate = msgspec.structs.replace(candidate, version=version_name(now, candidate))
            if await self._pricing.publish_version(candidate, replacing=active.version):
                changed = sorted(a for a in models if models[a] != active.models.get(a))
                log.info(
                    "pricing version published",
                    extra={"fields": {"version": candidate.version, "based_on": active.version, "aliases": changed}},
                )
                return candidate
        log.warning("pricing overrides not published: other versions kept coming into force")
        return None
