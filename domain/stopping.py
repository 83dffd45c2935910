"""Stopping a turn, and the caps per turn: which step may still run once a stop is asked for or a cap
is reached, and what the next call may cost at worst. Pure rules; the running turn applies them."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from domain.errors import ValidationFailed
from domain.model import Mode, Room
from domain.planning import next_step
from domain.pricing import PricingVersion
from domain.turns import PlannedStep, RosterEntry, StepKind, TurnStep
from domain.wallet import worst_case

# The largest caps a room accepts: beyond them a cap means nothing (and a typo is more likely).
MAX_CREDITS_CAP = Decimal("1000000")
MAX_CALLS_CAP = 1000
MAX_SECONDS_CAP = 86_400
# A synthesis squeezed under the credit cap still gets this many output tokens, else it is not started.
MIN_SYNTHESIS_OUTPUT_TOKENS = 64


class StopMode(enum.StrEnum):
    AFTER_STEP = "after_step"  # the step in flight finishes; no further agent runs
    NOW = "now"  # the call in flight is cut; nothing more runs


class StopReason(enum.StrEnum):
    USER = "user"
    CREDIT_CAP = "credit_cap"
    CALL_CAP = "call_cap"
    TIME_CAP = "time_cap"


class TurnCaps(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A room's caps per turn, snapshotted with the roster when a turn starts (None: no cap)."""

    max_credits: Decimal | None = None
    max_agent_calls: int | None = None
    max_seconds: int | None = None


def caps_of(room: Room) -> TurnCaps:
    return TurnCaps(
        max_credits=room.max_credits_per_turn,
        max_agent_calls=room.max_agent_calls_per_turn,
        max_seconds=room.max_turn_seconds,
    )


def credit_cap(text: str | None) -> Decimal | None:
    """A room's `max_credits_per_turn` from its decimal string: more than 0, at most 4 decimal places
    (the ledger's precision), at most MAX_CREDITS_CAP. ValidationFailed otherwise."""
    if text is None:
        return None
    try:
        value = Decimal(text)
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or value <= 0 or value > MAX_CREDITS_CAP or value != round(value, 4):
        raise ValidationFailed(
            f"max_credits_per_turn must be a decimal string above 0 and at most {MAX_CREDITS_CAP}, "
            "with at most 4 decimal places, or null.",
            extra=[{"key": "max_credits_per_turn", "source": "body"}],
        )
    return value.quantize(Decimal("0.0001"))


def count_cap(name: str, value: int | None, maximum: int) -> int | None:
    """`max_agent_calls_per_turn` or `max_turn_seconds`: a whole number from 1 to `maximum`, or null."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum):
        raise ValidationFailed(
            f"{name} must be a whole number from 1 to {maximum}, or null.", extra=[{"key": name, "source": "body"}]
        )
    return value


def room_caps(changes: dict[str, object]) -> dict[str, object]:
    """The cap fields of a room's create or update, checked and in their stored types (others untouched)."""
    checked = dict(changes)
    if "max_credits_per_turn" in checked:
        checked["max_credits_per_turn"] = credit_cap(checked["max_credits_per_turn"])  # type: ignore[arg-type]
    if "max_agent_calls_per_turn" in checked:
        value = checked["max_agent_calls_per_turn"]
        checked["max_agent_calls_per_turn"] = count_cap("max_agent_calls_per_turn", value, MAX_CALLS_CAP)  # type: ignore[arg-type]
    if "max_turn_seconds" in checked:
        value = checked["max_turn_seconds"]
        checked["max_turn_seconds"] = count_cap("max_turn_seconds", value, MAX_SECONDS_CAP)  # type: ignore[arg-type]
    return checked


class Stop(msgspec.Struct, frozen=True, kw_only=True):
    mode: StopMode
    reason: StopReason


def stronger(current: Stop | None, mode: StopMode, reason: StopReason) -> Stop:
    """A new stop request on top of `current`: the first reason stands, `now` overrides `after_step`."""
    if current is None:
        return Stop(mode=mode, reason=reason)
    if mode is StopMode.NOW and current.mode is not StopMode.NOW:
        return Stop(mode=StopMode.NOW, reason=current.reason)
    return current


def spent(steps: Sequence[TurnStep]) -> Decimal:
    """The credits a turn's steps burned: the sum of their ledger rows' (a step's usage sums its rows)."""
    return sum((s.usage.credits for s in steps), start=Decimal("0.0000"))


def agent_calls(steps: Sequence[TurnStep]) -> int:
    return sum(1 for s in steps if s.kind is StepKind.AGENT)


def cap_reached(
    caps: TurnCaps, steps: Sequence[TurnStep], elapsed_s: float, outside: Decimal = Decimal(0)
) -> StopReason | None:
    """The cap that forbids starting another agent or manager step, if any (`outside`: credits the
    turn burned in calls of no step, its summary's). The credit cap is also checked before every call,
    against that call's worst case: see `fits_credit_cap`."""
    if caps.max_credits is not None and spent(steps) + outside >= caps.max_credits:
        return StopReason.CREDIT_CAP
    if caps.max_agent_calls is not None and agent_calls(steps) >= caps.max_agent_calls:
        return StopReason.CALL_CAP
    if caps.max_seconds is not None and elapsed_s >= caps.max_seconds:
        return StopReason.TIME_CAP
    return None


class Upcoming(msgspec.Struct, frozen=True, kw_only=True):
    step: PlannedStep | None  # None: the turn is done
    stop: Stop | None  # the stop in force (one a cap has just imposed included)


def next_step_stopping(
    mode: Mode,
    plan: Sequence[PlannedStep],
    roster: Sequence[RosterEntry],
    steps: Sequence[TurnStep],
    stop: Stop | None,
    *,
    caps: TurnCaps = TurnCaps(),
    elapsed_s: float = 0.0,
    outside: Decimal = Decimal(0),
    synthesis_refused: bool = False,
) -> Upcoming:
    """The next step of a turn that may be stopping, and the stop in force after it is decided.

    No stop: the mode's own next step, unless it is an agent or manager step and a cap is reached,
    which stops the turn as `after_step` with the cap's reason. `now`: nothing more. `after_step`: no
    further agent or manager step; an orchestrated turn still gets its synthesis from what exists,
    unless it has one already or the credit cap refused it.
    """
    if stop is None:
        planned = next_step(mode, plan, roster, steps)
        if planned is None or planned.kind is StepKind.SYNTHESIS:
            return Upcoming(step=planned, stop=None)
        reason = cap_reached(caps, steps, elapsed_s, outside)
        if reason is None:
            return Upcoming(step=planned, stop=None)
        stop = Stop(mode=StopMode.AFTER_STEP, reason=reason)
    if stop.mode is StopMode.NOW or mode is not Mode.ORCHESTRATOR or synthesis_refused:
        return Upcoming(step=None, stop=stop)
    if any(s.kind is StepKind.SYNTHESIS for s in steps):
        return Upcoming(step=None, stop=stop)
    return Upcoming(step=PlannedStep(index=len(steps), kind=StepKind.SYNTHESIS), stop=stop)


def worst_case_credits(pricing: PricingVersion, alias: str, estimated_input: int, max_output: int) -> Decimal:
    """What one call may cost at most: the very figure the wallet reserves before the call (its
    estimated prompt, all fresh, plus the request's output limit, priced by the turn's version)."""
    return worst_case(pricing, alias, estimated_input, max_output)


def fits_credit_cap(
    caps: TurnCaps, spent_so_far: Decimal, pricing: PricingVersion, alias: str, estimated_input: int, max_output: int
) -> bool:
    if caps.max_credits is None:
        return True
    return spent_so_far + worst_case_credits(pricing, alias, estimated_input, max_output) <= caps.max_credits


def output_within_cap(
    caps: TurnCaps, spent_so_far: Decimal, pricing: PricingVersion, alias: str, estimated_input: int, max_output: int
) -> int | None:
    """The largest output limit (≤ `max_output`) whose worst case stays within the credit cap, or None
    when even MIN_SYNTHESIS_OUTPUT_TOKENS would pass it: how a synthesis is kept short enough to fit."""
    if fits_credit_cap(caps, spent_so_far, pricing, alias, estimated_input, max_output):
        return max_output
    low, high = MIN_SYNTHESIS_OUTPUT_TOKENS, max_output
    if not fits_credit_cap(caps, spent_so_far, pricing, alias, estimated_input, low):
        return None
    while low < high:  # the worst case grows with the output limit: bisect for the largest that fits
        middle = (low + high + 1) // 2
        if fits_credit_cap(caps, spent_so_far, pricing, alias, estimated_input, middle):
            low = middle
        else:
            high = middle - 1
    return low


def remaining_budget(
    caps: TurnCaps, steps: Sequence[TurnStep], elapsed_s: float, outside: Decimal = Decimal(0)
) -> str | None:
    """What is left of the turn's caps, in words, for the manager's prompt; None without caps."""
    parts = []
    if caps.max_credits is not None:
        parts.append(f"{max(Decimal(0), caps.max_credits - spent(steps) - outside)} credits")
    if caps.max_agent_calls is not None:
        parts.append(f"{max(0, caps.max_agent_calls - agent_calls(steps))} agent calls")
    if caps.max_seconds is not None:
        parts.append(f"{max(0, int(caps.max_seconds - elapsed_s))} seconds")
    return ", ".join(parts) if parts else None
