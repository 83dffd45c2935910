"""Models and pricing over HTTP: availability by configured provider, decimals as strings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, assert_error, auth_headers
from tests.support.seeded import SEED_PRICES

MODEL_FIELDS = {"alias", "provider", "provider_model", "context_window", "multiplier", "available"}
VERSION_DECIMALS = (
    "fresh_input_weight",
    "cached_input_weight",
    "output_weight",
    "oe_tokens_per_credit",
    "multiplier_floor",
    "default_multiplier",
)
PRICE_DECIMALS = ("multiplier", "input_usd_per_mtok", "cached_input_usd_per_mtok", "output_usd_per_mtok")


@pytest.fixture(scope="module")
async def owner(client: AsyncTestClient) -> dict[str, str]:
    return await auth_headers(client, "shopper")


def decimal(value: object) -> Decimal:
    assert isinstance(value, str), f"{value!r} should be a decimal string"
    return Decimal(value)


async def test_models_list_the_simulated_models_as_available(client: AsyncTestClient, owner: dict[str, str]) -> None:
    response = await client.get(f"{API}/models", headers=owner)

    assert response.status_code == 200
    models = {m["alias"]: m for m in response.json()["items"]}
    assert all(set(m) == MODEL_FIELDS for m in models.values())
    for alias in ("sim", "sim-slow"):
        assert (models[alias]["provider"], models[alias]["available"]) == ("simulated", True)
        assert decimal(models[alias]["multiplier"]) == Decimal("1.00")
        assert models[alias]["context_window"] > 0


async def test_openrouter_models_are_unavailable_without_its_key(
    client: AsyncTestClient, owner: dict[str, str]
) -> None:
    models = {m["alias"]: m for m in (await client.get(f"{API}/models", headers=owner)).json()["items"]}

    for alias in ("deepseek", "llama", "claude-opus", "premium"):
        assert (models[alias]["provider"], models[alias]["available"]) == ("openrouter", False), alias
    assert models["deepseek"]["provider_model"].startswith("deepseek/")


async def test_model_multipliers_come_from_the_active_pricing_version(
    client: AsyncTestClient, owner: dict[str, str]
) -> None:
    models = {m["alias"]: m for m in (await client.get(f"{API}/models", headers=owner)).json()["items"]}

    assert decimal(models["kimi"]["multiplier"]) == Decimal("2.40")
    assert decimal(models["llama"]["multiplier"]) == Decimal("0.50")
    assert decimal(models["claude-opus"]["multiplier"]) == Decimal("30.00")
    assert "premium" not in SEED_PRICES
    assert decimal(models["premium"]["multiplier"]) == Decimal("1.0")  # the version's default multiplier


def assert_seed_version(version: dict[str, object]) -> None:
    assert version["version"] == "2026-02-20"
    assert [decimal(version[k]) for k in VERSION_DECIMALS] == [
        Decimal("0.35"),
        Decimal("0.10"),
        Decimal("1.0"),
        Decimal(10_000),
        Decimal("0.5"),
        Decimal("1.0"),
    ]
    models = version["models"]
    assert isinstance(models, list) and len(models) == 17
    prices = {m["alias"]: tuple(decimal(m[k]) for k in PRICE_DECIMALS) for m in models}
    assert prices == {alias: tuple(Decimal(v) for v in row) for alias, row in SEED_PRICES.items()}


async def test_pricing_lists_the_versions_and_names_the_active_one(
    client: AsyncTestClient, owner: dict[str, str]
) -> None:
    response = await client.get(f"{API}/pricing", headers=owner)

    assert response.status_code == 200
    body = response.json()
    assert body["active_version"] == "2026-02-20"
    [seed] = [v for v in body["items"] if v["version"] == "2026-02-20"]
    assert_seed_version(seed)


async def test_a_pricing_version_is_read_by_name(client: AsyncTestClient, owner: dict[str, str]) -> None:
    response = await client.get(f"{API}/pricing/2026-02-20", headers=owner)

    assert response.status_code == 200
    assert_seed_version(response.json())
    assert response.json()["effective_from"].startswith("2026-02-20T00:00:00")


async def test_an_unknown_pricing_version_is_not_found(client: AsyncTestClient, owner: dict[str, str]) -> None:
    assert_error(await client.get(f"{API}/pricing/nope", headers=owner), 404, "not_found")


@pytest.mark.parametrize("path", ["/models", "/pricing", "/pricing/2026-02-20"])
async def test_the_catalog_needs_a_key(client: AsyncTestClient, path: str) -> None:
    assert_error(await client.get(API + path), 401, "unauthorized")
