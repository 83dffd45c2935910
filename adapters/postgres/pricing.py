from __future__ import annotations

from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from domain.pricing import ModelPrice, PricingVersion

VERSION_COLUMNS = """version, effective_from, fresh_input_weight, cached_input_weight, output_weight,
    oe_tokens_per_credit, multiplier_floor, default_multiplier"""
SELECT_VERSIONS = f"SELECT {VERSION_COLUMNS} FROM pricing_versions ORDER BY effective_from DESC, version DESC"
SELECT_ACTIVE_VERSION = f"""
SELECT {VERSION_COLUMNS} FROM pricing_versions WHERE effective_from <= now()
ORDER BY effective_from DESC, version DESC LIMIT 1
"""
SELECT_VERSION = f"SELECT {VERSION_COLUMNS} FROM pricing_versions WHERE version = %(version)s"
# Publishing is serialised across server processes by a transaction-scoped advisory lock.
LOCK_PUBLISH = "SELECT pg_advisory_xact_lock(hashtext('pantheon.pricing.publish'))"
SELECT_ACTIVE_NAME = """
SELECT version FROM pricing_versions WHERE effective_from <= now()
ORDER BY effective_from DESC, version DESC LIMIT 1
"""
# Columns the domain value does not carry (the overage price) are copied from the replaced version.
INSERT_VERSION = """
INSERT INTO pricing_versions (version, effective_from, fresh_input_weight, cached_input_weight, output_weight,
                              oe_tokens_per_credit, multiplier_floor, default_multiplier, overage_usd_per_credit)
SELECT %(version)s, %(effective_from)s, %(fresh_input_weight)s, %(cached_input_weight)s, %(output_weight)s,
       %(oe_tokens_per_credit)s, %(multiplier_floor)s, %(default_multiplier)s, overage_usd_per_credit
FROM pricing_versions WHERE version = %(replacing)s
ON CONFLICT (version) DO NOTHING
"""
INSERT_MODEL_PRICE = """
INSERT INTO model_pricing (version, alias, multiplier, input_usd_per_mtok, cached_input_usd_per_mtok,
                           output_usd_per_mtok)
VALUES (%(version)s, %(alias)s, %(multiplier)s, %(input_usd_per_mtok)s, %(cached_input_usd_per_mtok)s,
        %(output_usd_per_mtok)s)
"""
SELECT_MODEL_PRICES = """
SELECT version, alias, multiplier, input_usd_per_mtok, cached_input_usd_per_mtok, output_usd_per_mtok
FROM model_pricing WHERE version = ANY(%(versions)s) ORDER BY alias
"""


class PostgresPricingStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _versions(self, sql: str, params: dict[str, Any] | None = None) -> list[PricingVersion]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
            if not rows:
                return []
            cur = await conn.execute(SELECT_MODEL_PRICES, {"versions": [r["version"] for r in rows]})
            prices = await cur.fetchall()
        models: dict[str, dict[str, ModelPrice]] = {r["version"]: {} for r in rows}
        for price in prices:
            models[price["version"]][price["alias"]] = ModelPrice(**{k: v for k, v in price.items() if k != "version"})
        return [PricingVersion(**row, models=models[row["version"]]) for row in rows]

    async def active_version(self) -> PricingVersion:
        found = await self._versions(SELECT_ACTIVE_VERSION)
        if not found:
            raise LookupError("No pricing version is in force: the migrations seed one; were they applied?")
        return found[0]

    async def pricing_version(self, version: str) -> PricingVersion | None:
        found = await self._versions(SELECT_VERSION, {"version": version})
        return found[0] if found else None

    async def pricing_versions(self) -> list[PricingVersion]:
        return await self._versions(SELECT_VERSIONS)

    async def publish_version(self, version: PricingVersion, *, replacing: str) -> bool:
        fields = {k: v for k, v in msgspec.structs.asdict(version).items() if k != "models"}
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(LOCK_PUBLISH)
            row = await (await conn.execute(SELECT_ACTIVE_NAME)).fetchone()
            if row is None or row["version"] != replacing:
                return False  # another version came into force first: the caller re-reads and decides
            cur = await conn.execute(INSERT_VERSION, {**fields, "replacing": replacing})
            if cur.rowcount == 0:
                return False  # the name is taken
            async with conn.cursor() as prices:
                await prices.executemany(
                    INSERT_MODEL_PRICE,
                    [
                        {"version": version.version, **msgspec.structs.asdict(price)}
                        for price in sorted(version.models.values(), key=lambda p: p.alias)
                    ],
                )
        return True
