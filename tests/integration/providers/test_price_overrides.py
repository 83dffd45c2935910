"""Per-model prices in the TOML become a published pricing version when the app starts.

One lifecycle on one database: start (publishes), a turn billed with the new version, a restart with
the same config (publishes nothing), a restart with changed prices (publishes on top of the last one).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from domain.pricing import price_call
from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import Api, model_table, provider_app, provider_table
from tests.support.llm_servers import FakeUsage

SEED = "2026-02-20"
NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z-[0-9a-f]{8}$")
ENV = {"PANTHEON_TEST_PRICED_KEY": "priced-loopback-key"}


def config(loopback: Loopback, *, priced_multiplier: str) -> str:
    return (
        provider_table("oai", loopback.openai, "PANTHEON_TEST_PRICED_KEY", timeout_s=5)
        + model_table(
            "gpt-priced",
            "oai",
            "gpt-priced-1",
            multiplier=priced_multiplier,
            input_usd_per_mtok="1.25",
            cached_input_usd_per_mtok="0.125",
            output_usd_per_mtok="10",
        )
        # A built-in alias re-priced by the file: only the multiplier, its USD prices stay as seeded.
        + '[models.llama]\nmultiplier = "0.75"\n'
    )


async def pricing(api: Api) -> tuple[str, list[str]]:
    body = await api.call("GET", "/pricing", expect=200)
    return body["active_version"], [v["version"] for v in body["items"]]


async def test_config_prices_are_published_once_and_bill_the_turns(
    database_url: str, loopback: Loopback, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    async with provider_app(database_url, tmp_path, config(loopback, priced_multiplier="2.5"), ENV) as api:
        active, listed = await pricing(api)
        assert NAME.match(active) and listed == [active, SEED]
        seed = await api.pricing_version(SEED)
        published = await api.pricing_version(active)
        assert started - timedelta(seconds=1) <= published.effective_from <= datetime.now(UTC)
        assert set(published.models) == {*seed.models, "gpt-priced"}
        assert all(published.models[a] == p for a, p in seed.models.items() if a != "llama")
        assert published.models["llama"].multiplier == Decimal("0.75")
        assert published.models["llama"].output_usd_per_mtok == seed.models["llama"].output_usd_per_mtok
        priced = published.models["gpt-priced"]
        assert (
            priced.multiplier,
            priced.input_usd_per_mtok,
            priced.cached_input_usd_per_mtok,
            priced.output_usd_per_mtok,
        ) == (Decimal("2.5"), Decimal("1.25"), Decimal("0.125"), Decimal(10))
        assert (published.fresh_input_weight, published.output_weight, published.default_multiplier) == (
            seed.fresh_input_weight,
            seed.output_weight,
            seed.default_multiplier,
        )
        models = await api.models()
        assert (models["gpt-priced"]["multiplier"], models["llama"]["multiplier"]) == ("2.5000", "0.7500")

        loopback.openai.script(
            loopback.openai.kit.stream(["Priced."], usage=FakeUsage(input=4000, cached=1000, output=500))
        )
        session = await api.roundtable(("gpt", "gpt-priced", "You are expensive."), ("sage", "sim", "You are cheap."))
        turn = await api.turn(session, "How much is this?")
        assert turn["status"] == "completed"
        rows = await api.ledger(turn["id"])
        assert {r["pricing_version"] for r in rows} == {active}
        await api.check_accounting(turn, rows)
        [row] = [r for r in rows if r["model_alias"] == "gpt-priced"]
        charge = price_call(published, "gpt-priced", 3000, 1000, 500)
        # OE 3000*0.35 + 1000*0.10 + 500 = 1650; credits 1650 / 10000 * 2.5;
        # USD (3000*1.25 + 1000*0.125 + 500*10) / 1e6.
        assert (charge.oe_tokens, charge.credits_burned, charge.provider_cost_usd) == (
            Decimal("1650"),
            Decimal("0.4125"),
            Decimal("0.008875"),
        )
        assert (Decimal(row["credits_burned"]), Decimal(row["provider_cost_usd"])) == (
            charge.credits_burned,
            charge.provider_cost_usd,
        )
        before_restart = await api.call("GET", f"/pricing/{active}", expect=200)
        owner = api.headers

    # Restart with the same configuration: nothing new.
    async with provider_app(database_url, tmp_path, config(loopback, priced_multiplier="2.50"), ENV) as api:
        assert await pricing(api) == (active, [active, SEED])
        assert await api.call("GET", f"/pricing/{active}", expect=200) == before_restart
        api.headers = owner
        assert {r["pricing_version"] for r in await api.ledger(turn["id"])} == {active}  # old rows keep theirs

    # Restart with a changed price: a third version, the previous one plus the change.
    async with provider_app(database_url, tmp_path, config(loopback, priced_multiplier="3"), ENV) as api:
        newest, listed = await pricing(api)
        assert newest not in (active, SEED) and listed == [newest, active, SEED]
        latest = await api.pricing_version(newest)
        assert latest.models["gpt-priced"].multiplier == Decimal(3)
        assert latest.models["llama"].multiplier == Decimal("0.75")
        assert {a: p for a, p in latest.models.items() if a != "gpt-priced"} == {
            a: p for a, p in published.models.items() if a != "gpt-priced"
        }
        assert await api.call("GET", f"/pricing/{active}", expect=200) == before_restart  # immutable
