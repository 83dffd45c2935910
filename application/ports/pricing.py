from __future__ import annotations

from typing import Protocol

from domain.pricing import PricingVersion


class PricingStore(Protocol):
    async def active_version(self) -> PricingVersion:
        """The newest version whose effective_from is not in the future."""
        ...

    async def pricing_version(self, version: str) -> PricingVersion | None: ...

    async def pricing_versions(self) -> list[PricingVersion]: ...

    async def publish_version(self, version: PricingVersion, *, replacing: str) -> bool:
        """Publish `version` (immutable from then on) if the version in force is still `replacing`.

        The check and the insert are atomic across server processes. Returns False, publishing
        nothing, when another version came into force meanwhile (e.g. another process starting with
        the same configuration published first) or when a version with this name already exists.
        The stored version copies whatever the port does not carry (e.g. the overage price) from
        `replacing`.
        """
        ...
