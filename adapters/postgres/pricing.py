from __future__ import annotations

import time
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from domain.pricing import ModelPrice, PricingVersion

VERSION_COLUMNS = """version, effective_from, fresh_input_weight, cached_input_weight, output_weight,
    oe_tokens_per_credit, multiplier_floor, default_multiplier"""
ACTIVE_TTL_S = 2.0
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
    """Pricing versions are immutable once published, so reads may be cached for the process's life."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._cache: dict[str, PricingVersion] = {}
        self._active: tuple[float, PricingVersion] | None = None

    async def _load(self, rows: list[dict[str, Any]]) -> list[PricingVersion]:
        missing = [r["version"] for r in rows if r["version"] not in self._cache]
        if missing:
            async with self._pool.connection() as conn:
                cur = await conn.execute(SELECT_MODEL_PRICES, {"versions": missing})
                prices = await cur.fetchall()
            for row in rows:
                if row["version"] in missing:
                    models = {
                        p["alias"]: ModelPrice(**{k: v for k, v in p.items() if k != "version"})
                        for p in prices
                        if p["version"] == row["version"]
                    }
                    self._cache[row["version"]] = PricingVersion(**row, models=models)
        return [self._cache[r["version"]] for r in rows]

    async def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[PricingVersion]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            rows = await cur.fetchall()
        return await self._load(rows)

    async def active_version(self) -> PricingVersion:
        # Every turn asks; the answer changes only when a version is published or comes into force, so it
        # is kept for ACTIVE_TTL_S (another process's publication shows up here within that delay).
        now = time.monotonic()
        if self._active is not None and now - self._active[0] < ACTIVE_TTL_S:
            return self._active[1]
        found = await self._query(SELECT_ACTIVE_VERSION)
        if not found:
            raise LookupError("No pricing version is in force: the migrations seed one; were they applied?")
        self._active = (now, found[0])
        return found[0]

    async def pricing_version(self, version: str) -> PricingVersion | None:
        if version in self._cache:
            return self._cache[version]
        found = await self._query(SELECT_VERSION, {"version": version})
        return found[0] if found else None

    async def pricing_versions(self) -> list[PricingVersion]:
        return await self._query(SELECT_VERSIONS)

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
        self._active = None  # the new version is in force from now on
        return True
