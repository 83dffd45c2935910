import math
import random
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction

import msgspec
import pytest

from domain.pricing import CallCharge, ModelPrice, PricingVersion, price_call

D = Decimal

# Multipliers and weights of the seeded version 2026-02-20 (docs/design.md). The design gives no USD
# prices, so the per-million-token prices below are illustrative.
SEED_MULTIPLIERS = {
    "deepseek": "1.00",
    "llama": "0.50",
    "qwen": "0.50",
    "gpt_oss": "0.50",
    "kimi": "2.40",
    "glm": "2.55",
    "gpt-5-mini": "2.25",
    "gpt-4.1": "10.00",
    "gpt-4o": "12.50",
    "gpt-5": "11.25",
    "gpt-5.2": "15.75",
    "gemini-pro": "14.00",
    "claude-sonnet": "18.00",
    "grok": "18.00",
    "claude-opus": "30.00",
    "sim": "1.00",
    "sim-slow": "1.00",
}
USD = {"llama": ("0.10", "0.05", "0.40"), "claude-opus": ("15.00", "1.50", "75.00")}


def model(alias: str, multiplier: str, usd: tuple[str, str, str] = ("0", "0", "0")) -> ModelPrice:
    return ModelPrice(
        alias=alias,
        multiplier=D(multiplier),
        input_usd_per_mtok=D(usd[0]),
        cached_input_usd_per_mtok=D(usd[1]),
        output_usd_per_mtok=D(usd[2]),
    )


def version(models: dict[str, ModelPrice], **overrides: Decimal) -> PricingVersion:
    fields = {
        "fresh_input_weight": D("0.35"),
        "cached_input_weight": D("0.10"),
        "output_weight": D("1.0"),
        "oe_tokens_per_credit": D("10000"),
        "multiplier_floor": D("0.5"),
        "default_multiplier": D("1.0"),
        **overrides,
    }
    return PricingVersion(
        version="2026-02-20", effective_from=datetime(2026, 2, 20, tzinfo=UTC), models=models, **fields
    )


SEED = version({alias: model(alias, m, USD.get(alias, ("0", "0", "0"))) for alias, m in SEED_MULTIPLIERS.items()})


def test_claude_opus_hand_computed():
    # OE = 1000*0.35 + 2000*0.10 + 500*1.0 = 1050; credits = 1050 / 10000 * 30 = 3.15
    # USD = (1000*15 + 2000*1.5 + 500*75) / 1e6 = 0.0555
    charge = price_call(SEED, "claude-opus", 1000, 2000, 500)
    assert charge == CallCharge(
        oe_tokens=D("1050.0000"),
        multiplier=D("30.00"),
        credits_burned=D("3.1500"),
        provider_cost_usd=D("0.05550000"),
    )
    assert str(charge.oe_tokens) == "1050.0000"
    assert str(charge.credits_burned) == "3.1500"
    assert str(charge.provider_cost_usd) == "0.05550000"


def test_llama_hand_computed_rounds_down_below_half():
    # OE = 1234*0.35 + 567 = 998.9; credits = 0.09989 * 0.5 = 0.049945 -> 0.0499
    # USD = (1234*0.10 + 567*0.40) / 1e6 = 0.0003502
    charge = price_call(SEED, "llama", 1234, 0, 567)
    assert str(charge.oe_tokens) == "998.9000"
    assert str(charge.multiplier) == "0.50"
    assert str(charge.credits_burned) == "0.0499"
    assert str(charge.provider_cost_usd) == "0.00035020"


def test_sim_bills_at_one():
    charge = price_call(SEED, "sim", 100, 0, 50)  # OE 35 + 50 = 85
    assert (charge.oe_tokens, charge.multiplier, charge.credits_burned) == (D("85"), D("1.00"), D("0.0085"))
    assert str(charge.provider_cost_usd) == "0E-8"


@pytest.mark.parametrize(
    ("alias", "fresh", "cached", "output", "credits"),
    [
        ("llama", 0, 0, 1, "0.0001"),  # 1 / 10000 * 0.5 = 0.00005 exactly: half-up, not half-even (0.0000)
        ("llama", 0, 0, 3, "0.0002"),  # 0.00015
        ("llama", 0, 0, 5, "0.0003"),  # 0.00025: half-even would give 0.0002
        ("sim", 0, 5, 0, "0.0001"),  # OE 0.5 -> 0.00005
        ("sim", 0, 4, 0, "0.0000"),  # OE 0.4 -> 0.00004
        ("kimi", 0, 0, 3125, "0.7500"),  # 0.3125 * 2.40 = 0.75
        ("glm", 0, 0, 1, "0.0003"),  # 0.0001 * 2.55 = 0.000255
    ],
)
def test_credits_round_half_up_at_fourth_decimal(alias, fresh, cached, output, credits):
    assert str(price_call(SEED, alias, fresh, cached, output).credits_burned) == credits


def test_oe_tokens_round_half_up_at_fourth_decimal():
    pricing = version({}, fresh_input_weight=D("0.00005"), cached_input_weight=D("0.00015"))
    assert str(price_call(pricing, "x", 1, 0, 0).oe_tokens) == "0.0001"
    assert str(price_call(pricing, "x", 0, 1, 0).oe_tokens) == "0.0002"
    assert str(price_call(pricing, "x", 5, 0, 0).oe_tokens) == "0.0003"  # 0.00025


def test_provider_cost_rounds_half_up_at_eighth_decimal():
    pricing = version({"cheap": model("cheap", "1", ("0.005", "0", "0"))})
    assert str(price_call(pricing, "cheap", 1, 0, 0).provider_cost_usd) == "1E-8"  # 0.000000005
    assert str(price_call(pricing, "cheap", 5, 0, 0).provider_cost_usd) == "3E-8"  # 0.000000025
    assert str(price_call(pricing, "cheap", 0, 9, 9).provider_cost_usd) == "0E-8"


def test_multiplier_floor_applies_only_to_credits():
    pricing = version({"tiny": model("tiny", "0.2")})
    charge = price_call(pricing, "tiny", 0, 0, 10_000)  # 1 credit of OE
    assert charge.multiplier == D("0.2")
    assert charge.credits_burned == D("0.5000")


def test_multiplier_at_floor_and_above_are_used_as_is():
    assert price_call(SEED, "qwen", 0, 0, 10_000).credits_burned == D("0.5000")
    assert price_call(SEED, "gpt-5", 0, 0, 10_000).credits_burned == D("11.2500")


def test_unpriced_model_uses_default_multiplier_and_zero_cost():
    charge = price_call(SEED, "mystery-model", 2000, 0, 1000)  # OE 700 + 1000 = 1700
    assert charge.multiplier == D("1.0")
    assert charge.credits_burned == D("0.1700")
    assert charge.provider_cost_usd == 0
    assert str(charge.provider_cost_usd) == "0E-8"


def test_default_multiplier_is_floored_too():
    pricing = version({}, default_multiplier=D("0.1"))
    charge = price_call(pricing, "mystery-model", 0, 0, 10_000)
    assert (charge.multiplier, charge.credits_burned) == (D("0.1"), D("0.5000"))


def test_zero_tokens():
    charge = price_call(SEED, "claude-opus", 0, 0, 0)
    assert (str(charge.oe_tokens), str(charge.credits_burned), str(charge.provider_cost_usd)) == (
        "0.0000",
        "0.0000",
        "0E-8",
    )
    assert charge.multiplier == D("30.00")


def test_cancelled_call_keeps_cost_but_burns_no_credits():
    charged = price_call(SEED, "claude-opus", 1000, 2000, 500)
    cancelled = price_call(SEED, "claude-opus", 1000, 2000, 500, charge_user=False)
    assert str(cancelled.credits_burned) == "0.0000"
    assert cancelled.oe_tokens == charged.oe_tokens
    assert cancelled.multiplier == charged.multiplier
    assert cancelled.provider_cost_usd == charged.provider_cost_usd == D("0.0555")


def test_negative_tokens_are_rejected():
    with pytest.raises(ValueError):
        price_call(SEED, "sim", -1, 0, 0)


def test_ambient_decimal_context_does_not_change_the_result():
    expected = price_call(SEED, "gpt-5.2", 123_456_789, 98_765, 4_321_987)
    with localcontext(prec=3, rounding=ROUND_DOWN):
        assert price_call(SEED, "gpt-5.2", 123_456_789, 98_765, 4_321_987) == expected


def test_huge_counts_stay_exact():
    # OE = 0.35e12 + 0.1e12 + 1e12 = 1.45e12; credits = 1.45e8 * 30; USD = 15e6 + 1.5e6 + 75e6
    n = 10**12
    charge = price_call(SEED, "claude-opus", n, n, n)
    assert charge.oe_tokens == D("1450000000000")
    assert charge.credits_burned == D("4350000000")
    assert charge.provider_cost_usd == D("91500000")


def _half_up(value: Fraction, places: int) -> Fraction:
    scale = 10**places
    return Fraction(math.floor(value * scale + Fraction(1, 2)), scale)


def test_matches_an_exact_rational_reference():
    rng = random.Random(20260220)
    for _ in range(500):
        alias = rng.choice([*SEED_MULTIPLIERS, "unknown"])
        fresh, cached, output = (rng.randrange(0, 2_000_000) for _ in range(3))
        charge = price_call(SEED, alias, fresh, cached, output)
        oe = _half_up(Fraction(35, 100) * fresh + Fraction(10, 100) * cached + output, 4)
        multiplier = Fraction(SEED_MULTIPLIERS.get(alias, "1.0"))
        credits = _half_up(oe / 10_000 * max(multiplier, Fraction(1, 2)), 4)
        usd = USD.get(alias, ("0", "0", "0"))
        cost = _half_up(sum(Fraction(p) * n for p, n in zip(usd, (fresh, cached, output), strict=True)) / 10**6, 8)
        assert Fraction(charge.oe_tokens) == oe
        assert Fraction(charge.credits_burned) == credits
        assert Fraction(charge.provider_cost_usd) == cost


def test_recomputing_from_stored_values_is_identical():
    stored_pricing = msgspec.json.decode(msgspec.json.encode(SEED), type=PricingVersion)
    assert stored_pricing == SEED
    rng = random.Random(7)
    for _ in range(200):
        alias = rng.choice(list(SEED_MULTIPLIERS))
        tokens = [rng.randrange(0, 500_000) for _ in range(3)]
        charge = price_call(SEED, alias, *tokens)
        # Round-trip the row as the ledger stores it (decimals as strings), then price it again.
        row = msgspec.json.decode(msgspec.json.encode(charge), type=CallCharge)
        assert row == charge
        assert str(row.credits_burned) == str(charge.credits_burned)
        assert price_call(stored_pricing, alias, *tokens) == row
        # The stored OE and multiplier alone reproduce the stored credits.
        floor = stored_pricing.multiplier_floor
        recomputed = (row.oe_tokens / D(10000) * max(row.multiplier, floor)).quantize(D("0.0001"), "ROUND_HALF_UP")
        assert recomputed == row.credits_burned


def test_stored_precisions():
    charge = price_call(SEED, "llama", 7, 3, 11)
    assert charge.oe_tokens.as_tuple().exponent == -4
    assert charge.credits_burned.as_tuple().exponent == -4
    assert charge.provider_cost_usd.as_tuple().exponent == -8
