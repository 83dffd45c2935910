"""What models exist and what they cost."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from application.ports.catalog import ModelCatalog
from application.ports.pricing import PricingStore
from domain.errors import NotFound
from domain.pricing import PricingVersion


class ModelListing(msgspec.Struct, frozen=True, kw_only=True):
    alias: str
    provider: str
    provider_model: str
    context_window: int
    multiplier: Decimal
    available: bool


class ListModels:
    def __init__(self, catalog: ModelCatalog, pricing: PricingStore) -> None:
        self._catalog, self._pricing = catalog, pricing

    async def execute(self) -> list[ModelListing]:
        active = await self._pricing.active_version()
        return [
            ModelListing(
                alias=s.alias,
                provider=s.provider,
                provider_model=s.provider_model,
                context_window=s.context_window,
                available=s.available,
                multiplier=active.models[s.alias].multiplier if s.alias in active.models else active.default_multiplier,
            )
            for s in self._catalog.specs()
        ]


class ListPricing:
    def __init__(self, pricing: PricingStore) -> None:
        self._pricing = pricing

    async def execute(self) -> tuple[str, list[PricingVersion]]:
        active = await self._pricing.active_version()
        return active.version, await self._pricing.pricing_versions()


class GetPricing:
    def __init__(self, pricing: PricingStore) -> None:
        self._pricing = pricing

    async def execute(self, version: str) -> PricingVersion:
        found = await self._pricing.pricing_version(version)
        if found is None:
            raise NotFound(f"No pricing version {version!r}.")
        return found
