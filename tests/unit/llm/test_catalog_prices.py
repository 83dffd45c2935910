"""Per-model prices in the config file: what the catalog hands to PublishPrices, and what it refuses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.llm.catalog import CatalogError, load_catalog
from application.use_cases.publish_prices import PriceOverride

LOCAL = '[providers.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:11434/v1"\n\n'


def catalog_of(tmp_path: Path, text: str):
    path = tmp_path / "pantheon.toml"
    path.write_text(text)
    return load_catalog(str(path), {})


def test_price_overrides_list_only_the_aliases_the_file_prices(tmp_path: Path) -> None:
    catalog = catalog_of(
        tmp_path,
        LOCAL
        + """
[models.llama-local]
provider = "local"
provider_model = "llama3.2"
multiplier = "0.5"
input_usd_per_mtok = 0.1
output_usd_per_mtok = 1

[models.qwen-local]
provider = "local"
provider_model = "qwen3"

[models.kimi]
multiplier = "2.6"
""",
    )

    assert catalog.price_overrides() == [
        PriceOverride(alias="kimi", multiplier=Decimal("2.6")),  # a built-in alias, re-priced by the file
        PriceOverride(
            alias="llama-local",
            multiplier=Decimal("0.5"),
            input_usd_per_mtok=Decimal("0.1"),
            output_usd_per_mtok=Decimal(1),
        ),
    ]
    assert catalog.models["kimi"].spec.provider == "openrouter"  # the rest of the built-in is kept


def test_without_a_config_file_there_are_no_overrides() -> None:
    assert load_catalog(None, {}).price_overrides() == []


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('multiplier = "0.12345"', "at most 4 decimal places"),
        ('multiplier = "1000000"', r"must be below 10\^6"),
        ('input_usd_per_mtok = "0.123456789"', "at most 8 decimal places"),
        ('output_usd_per_mtok = "1e12"', r"must be below 10\^12"),
        ("cached_input_usd_per_mtok = 0.1234567891", "at most 8 decimal places"),
    ],
)
def test_prices_the_pricing_tables_cannot_store_exactly_are_refused(tmp_path: Path, setting: str, message: str) -> None:
    key = setting.split(" ")[0]
    with pytest.raises(CatalogError, match=rf"models\.m\.{key}: {message}"):
        catalog_of(tmp_path, LOCAL + f'[models.m]\nprovider = "local"\nprovider_model = "p"\n{setting}\n')


@pytest.mark.parametrize(
    "setting",
    [
        'multiplier = "0.1234"',
        'multiplier = "999999.9999"',
        'output_usd_per_mtok = "0.12345678"',
        'input_usd_per_mtok = "1.50000000000"',
        "multiplier = 2",
        'output_usd_per_mtok = "75"',
    ],
)
def test_prices_within_the_stored_precision_are_accepted(tmp_path: Path, setting: str) -> None:
    catalog = catalog_of(tmp_path, LOCAL + f'[models.m]\nprovider = "local"\nprovider_model = "p"\n{setting}\n')

    assert catalog.models["m"].has_price_overrides
