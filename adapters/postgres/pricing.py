from __future__ import annotations

from typing import Any

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
SELECT_MODEL_PRICES = """
SELECT version, alias, multiplier, input_usd_per_mtok, cached_input_usd_per_mtok, output_usd_per_mtok
FROM model_pricing WHERE version = ANY(%(versions)s) ORDER BY alias
"""


class PostgresPricingStore:
    """Pricing versions are immutable once published, so reads may be cached for the process's life."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._cache: dict[str, PricingVersion] = {}

    async def _load(self, rows: list[dict[str, Any]]) -> list[PricingVersion]:
        missing = [r["version"] for r in rows if r["version"] not in self._cache]
        if missing:
            async with self._pool.connection() as conn:
                cur = await conn.execute(SELECT_MODEL_PRICES, {"versions": missing})
                prices = await cur.fetchall()
            for row in rows:
                if row["version"] in missing:
                    models = {p["alias"]: ModelPrice(**{k: v for k, v in p.items() if k != "version"})
                              for p in prices if p["version"] == row["version"]}
                    self._cache[row["version"]] = PricingVersion(**row, models=models)
        return [self._cache[r["version"]] for r in rows]

    async def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[PricingVersion]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            rows = await cur.fetchall()
        return await self._load(rows)

    async def active_version(self) -> PricingVersion:
        found = await self._query(SELECT_ACTIVE_VERSION)
        if not found:
            raise LookupError("No pricing version is in force: the migrations seed one; were they applied?")
        return found[0]

    async def pricing_version(self, version: str) -> PricingVersion | None:
        found = await self._query(SELECT_VERSION, {"version": version})
        return found[0] if found else None

    async def pricing_versions(self) -> list[PricingVersion]:
        return await self._query(SELECT_VERSIONS)
