"""Turning call attempts into priced ledger rows (invariant 4: Decimal end to end)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.ports.llm import LlmAttempt
from application.ports.turns import CallIntent, LedgerEntry, Purpose, TurnContext
from domain.model import ModelSpec
from domain.pricing import PricingVersion, price_call
from domain.turns import StepUsage


def attempt_entry(
    turn: TurnContext,
    step_index: int | None,
    agent_key: str | None,
    spec: ModelSpec,
    attempt: LlmAttempt,
    pricing: PricingVersion,
    row_id: UUID,
    at: datetime,
    purpose: Purpose = "agent",
) -> LedgerEntry:
    cached = attempt.usage.cached_input_tokens
    fresh = attempt.usage.input_tokens - cached
    output = attempt.usage.output_tokens
    charge = price_call(pricing, spec.alias, fresh, cached, output)
    return LedgerEntry(
        id=row_id,
        call_id=UUID(attempt.call_id),
        user_id=turn.user_id,
        room_id=turn.room_id,
        session_id=turn.session_id,
        turn_id=turn.turn_id,
        step_index=step_index,
        agent_key=agent_key,
        provider=spec.provider,
        model_alias=spec.alias,
        provider_model=spec.provider_model,
        input_tokens_fresh=fresh,
        input_tokens_cached=cached,
        output_tokens=output,
        total_tokens=fresh + cached + output,
        oe_tokens=charge.oe_tokens,
        multiplier=charge.multiplier,
        credits_burned=charge.credits_burned,
        provider_cost_usd=charge.provider_cost_usd,
        latency_ms=attempt.latency_ms,
        status=attempt.status,
        pricing_version=pricing.version,
        request_id=attempt.request_id,
        created_at=at,
        usage_estimated=attempt.usage_estimated,
        error_code=attempt.error.code if attempt.error else None,
        purpose=purpose,
    )


def recovered_entry(
    turn: TurnContext, intent: CallIntent, pricing: PricingVersion, row_id: UUID, at: datetime
) -> LedgerEntry:
    """The ledger row of an attempt a crash left without one.

    A settled attempt (it failed, a retry was under way) is priced like any other. An attempt cut off
    in flight by our own crash is `cancelled`: estimated input and provider cost kept, 0 credits.
    """
    if intent.outcome is not None:
        spec = ModelSpec(
            alias=intent.model_alias, provider=intent.provider, provider_model=intent.provider_model, context_window=0
        )
        return attempt_entry(
            turn,
            intent.step_index,
            intent.agent_key,
            spec,
            intent.outcome,
            pricing,
            row_id,
            intent.started_at,
            intent.purpose,
        )
    tokens = intent.estimated_input_tokens
    charge = price_call(pricing, intent.model_alias, tokens, 0, 0, charge_user=False)
    latency = max(0, int((at - intent.started_at).total_seconds() * 1000))
    return LedgerEntry(
        id=row_id,
        call_id=intent.call_id,
        user_id=turn.user_id,
        room_id=turn.room_id,
        session_id=turn.session_id,
        turn_id=turn.turn_id,
        step_index=intent.step_index,
        agent_key=intent.agent_key,
        provider=intent.provider,
        model_alias=intent.model_alias,
        provider_model=intent.provider_model,
        input_tokens_fresh=tokens,
        input_tokens_cached=0,
        output_tokens=0,
        total_tokens=tokens,
        oe_tokens=charge.oe_tokens,
        multiplier=charge.multiplier,
        credits_burned=charge.credits_burned,
        provider_cost_usd=charge.provider_cost_usd,
        latency_ms=latency,
        status="cancelled",
        pricing_version=pricing.version,
        request_id=None,
        created_at=at,
        usage_estimated=True,
        error_code="cancelled_by_crash",
        purpose=intent.purpose,
    )


def step_usage(entries: list[LedgerEntry]) -> StepUsage:
    return StepUsage(
        input_tokens=sum(e.input_tokens_fresh + e.input_tokens_cached for e in entries),
        cached_input_tokens=sum(e.input_tokens_cached for e in entries),
        output_tokens=sum(e.output_tokens for e in entries),
        credits=sum((e.credits_burned for e in entries), start=StepUsage().credits),
    )
