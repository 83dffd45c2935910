from __future__ import annotations

from typing import Protocol

from domain.pricing import PricingVersion


class PricingStore(Protocol):
    async def active_version(self) -> PricingVersion:
        """The newest version whose effective_from is not in the future."""
        ...

    async def pricing_version(self, version: str) -> PricingVersion | None: ...

    async def pricing_versions(self) -> list[PricingVersion]: ...
