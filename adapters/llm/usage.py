"""Token usage as a provider reported it, and the usage an attempt is recorded with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.llm.estimate import estimate_input_tokens
from application.ports.llm import ChatMessage
from domain.budget import estimate_tokens
from domain.turns import TokenUsage


def as_count(value: Any) -> int | None:
    """A token count from provider JSON, or None when absent or not a sane integer."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


@dataclass
class ReportedUsage:
    """Figures the provider sent; None where it sent nothing (then we estimate and flag it)."""

    input_tokens: int | None = None  # all prompt tokens, cached ones included
    cached_input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def has_any(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None


def settle_usage(reported: ReportedUsage, messages: Sequence[ChatMessage], text: str) -> tuple[TokenUsage, bool]:
    """Usage of a completed attempt: the provider's figures, estimates filling any gap (flagged)."""
    estimated = reported.input_tokens is None or reported.output_tokens is None
    input_tokens = reported.input_tokens if reported.input_tokens is not None else estimate_input_tokens(messages)
    output_tokens = reported.output_tokens if reported.output_tokens is not None else estimate_tokens(text)
    cached = min(reported.cached_input_tokens or 0, input_tokens)
    usage = TokenUsage(input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=output_tokens)
    return usage, estimated


def failed_usage(
    reported: ReportedUsage, messages: Sequence[ChatMessage], partial_text: str
) -> tuple[TokenUsage, bool]:
    """Usage of an attempt that failed after the provider accepted it.

    Nothing generated and nothing reported: the provider refused it, zero. Otherwise the provider
    worked on it and likely bills it: reported (or estimated) input plus the estimated partial output.
    """
    if not partial_text and reported.input_tokens is None:
        return TokenUsage(), False
    input_tokens = reported.input_tokens if reported.input_tokens is not None else estimate_input_tokens(messages)
    cached = min(reported.cached_input_tokens or 0, input_tokens)
    usage = TokenUsage(
        input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=estimate_tokens(partial_text)
    )
    return usage, True
