"""Exact pricing of one LLM call: OE tokens, credits and provider cost, all in Decimal (invariant 4)."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

import msgspec

# Stored precisions: NUMERIC(20,4) for OE tokens and credits, NUMERIC(20,8) for USD.
_FOUR_PLACES = Decimal("0.0001")
_EIGHT_PLACES = Decimal("0.00000001")
_TOKENS_PER_MTOK = Decimal(1_000_000)
# Wide enough that no intermediate product or quotient is rounded before the final quantize.
_PRECISION = 50


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    alias: str
    multiplier: Decimal
    input_usd_per_mtok: Decimal
    cached_input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal


class PricingVersion(msgspec.Struct, frozen=True, kw_only=True):
    """An immutable, published price list; ledger rows name the version they were priced with."""

    version: str
    effective_from: datetime
    fresh_input_weight: Decimal
    cached_input_weight: Decimal
    output_weight: Decimal
    oe_tokens_per_credit: Decimal
    multiplier_floor: Decimal
    default_multiplier: Decimal
    models: dict[str, ModelPrice]


class CallCharge(msgspec.Struct, frozen=True, kw_only=True):
    oe_tokens: Decimal
    multiplier: Decimal  # the model's own multiplier, unfloored, as the ledger row stores it
    credits_burned: Decimal
    provider_cost_usd: Decimal


def price_call(
    pricing: PricingVersion,
    model_alias: str,
    fresh_input_tokens: int,
    cached_input_tokens: int,
    output_tokens: int,
    *,
    charge_user: bool = True,
) -> CallCharge:
    """Price one call attempt under `pricing`.

    `charge_user=False` is for an attempt cut off by a crash of Pantheon itself: the provider may
    still have charged us, so its cost is kept, but the user burns no credits for our failure.
    """
    if min(fresh_input_tokens, cached_input_tokens, output_tokens) < 0:
        raise ValueError("token counts cannot be negative")
    price = pricing.models.get(model_alias)
    multiplier = price.multiplier if price is not None else pricing.default_multiplier
    # A local context so the caller's ambient precision or rounding can never change a bill.
    with localcontext(prec=_PRECISION, rounding=ROUND_HALF_UP):
        oe_tokens = (
            fresh_input_tokens * pricing.fresh_input_weight
            + cached_input_tokens * pricing.cached_input_weight
            + output_tokens * pricing.output_weight
        ).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
        # Credits derive from the stored (quantized) OE so a row recomputes to the same figure.
        if charge_user:
            billed_multiplier = max(multiplier, pricing.multiplier_floor)
            credits = oe_tokens / pricing.oe_tokens_per_credit * billed_multiplier
        else:
            credits = Decimal(0)
        if price is not None:
            cost = (
                fresh_input_tokens * price.input_usd_per_mtok
                + cached_input_tokens * price.cached_input_usd_per_mtok
                + output_tokens * price.output_usd_per_mtok
            ) / _TOKENS_PER_MTOK
        else:
            cost = Decimal(0)
        return CallCharge(
            oe_tokens=oe_tokens,
            multiplier=multiplier,
            credits_burned=credits.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP),
            provider_cost_usd=cost.quantize(_EIGHT_PLACES, rounding=ROUND_HALF_UP),
        )
