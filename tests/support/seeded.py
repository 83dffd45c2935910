"""Test data: a catalog of model specs, and the pricing version 2026-02-20 as the migrations seed it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.model import ModelSpec
from domain.pricing import ModelPrice, PricingVersion


def spec(alias: str, provider: str = "openrouter", *, available: bool = True) -> ModelSpec:
    return ModelSpec(
        alias=alias, provider=provider, provider_model=f"vendor/{alias}", context_window=131_072, available=available
    )


CATALOG_SPECS = [
    spec("sim", "simulated"),
    spec("sim-slow", "simulated"),
    spec("deepseek", available=False),
    spec("kimi", available=False),
    spec("claude-opus", available=False),
    spec("premium", available=False),  # served, but without a price row in 2026-02-20
]

# alias: (multiplier, input, cached input, output USD per million tokens) — migrations/0003_ledger.sql.
SEED_PRICES: dict[str, tuple[str, str, str, str]] = {
    "sim": ("1.00", "0", "0", "0"),
    "sim-slow": ("1.00", "0", "0", "0"),
    "deepseek": ("1.00", "0.27", "0.07", "1.10"),
    "llama": ("0.50", "0.13", "0.065", "0.40"),
    "qwen": ("0.50", "0.12", "0.06", "0.39"),
    "gpt_oss": ("0.50", "0.10", "0.05", "0.50"),
    "kimi": ("2.40", "0.60", "0.15", "2.50"),
    "glm": ("2.55", "0.60", "0.11", "2.20"),
    "gpt-5-mini": ("2.25", "0.25", "0.025", "2.00"),
    "gpt-4.1": ("10.00", "2.00", "0.50", "8.00"),
    "gpt-4o": ("12.50", "2.50", "1.25", "10.00"),
    "gpt-5": ("11.25", "1.25", "0.125", "10.00"),
    "gpt-5.2": ("15.75", "1.75", "0.175", "14.00"),
    "gemini-pro": ("14.00", "1.25", "0.3125", "10.00"),
    "claude-sonnet": ("18.00", "3.00", "0.30", "15.00"),
    "grok": ("18.00", "3.00", "0.75", "15.00"),
    "claude-opus": ("30.00", "15.00", "1.50", "75.00"),
}


def pricing_version(
    version: str = "2026-02-20",
    effective_from: datetime = datetime(2026, 2, 20, tzinfo=UTC),
    prices: dict[str, tuple[str, str, str, str]] = SEED_PRICES,
) -> PricingVersion:
    """By default the version the migrations seed (docs/design.md, "Pricing")."""
    models = {
        alias: ModelPrice(
            alias=alias,
            multiplier=Decimal(m),
            input_usd_per_mtok=Decimal(i),
            cached_input_usd_per_mtok=Decimal(c),
            output_usd_per_mtok=Decimal(o),
        )
        for alias, (m, i, c, o) in prices.items()
    }
    return PricingVersion(
        version=version,
        effective_from=effective_from,
        fresh_input_weight=Decimal("0.35"),
        cached_input_weight=Decimal("0.10"),
        output_weight=Decimal("1.0"),
        oe_tokens_per_credit=Decimal(10_000),
        multiplier_floor=Decimal("0.5"),
        default_multiplier=Decimal("1.0"),
        models=models,
    )
