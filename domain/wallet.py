"""A user's credits: what a wallet holds, what it can still spend, and the worst case of a call.

Pure values (invariant 8 is enforced in SQL; these say what the numbers mean). Money is Decimal at the
stored precision of 4 places (invariant 4).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec

from domain.pricing import PricingVersion, price_call

ZERO = Decimal("0.0000")
DEFAULT_STARTING_CREDITS = Decimal("100")


class Credits(msgspec.Struct, frozen=True, kw_only=True):
    """A wallet as the user sees it. `balance` is the sum of the wallet's transactions; `reserved`
    the worst cases of the calls in flight; `available` what a new call may still reserve."""

    balance: Decimal
    reserved: Decimal
    monthly_cap: Decimal | None
    spent_this_month: Decimal

    @property
    def available(self) -> Decimal:
        free = self.balance - self.reserved
        if self.monthly_cap is not None:
            free = min(free, self.monthly_cap - self.spent_this_month - self.reserved)
        return max(ZERO, free)


def month_of(at: datetime) -> date:
    """The UTC month a debit at `at` counts towards (its first day)."""
    return at.astimezone(UTC).date().replace(day=1)


def worst_case(
    pricing: PricingVersion, model_alias: str, estimated_input_tokens: int, max_output_tokens: int
) -> Decimal:
    """What a call can cost at most, as far as we can know before sending it: its estimated prompt,
    all fresh, plus the request's whole output limit, priced by the turn's pricing version. A provider
    counting more prompt tokens than the estimate is the only way a call costs more."""
    return price_call(pricing, model_alias, max(0, estimated_input_tokens), 0, max(0, max_output_tokens)).credits_burned
