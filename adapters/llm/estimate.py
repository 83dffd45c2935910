"""Local token estimates, used when a provider reports no usage (the ledger never records a silent 0)."""

from __future__ import annotations

from collections.abc import Sequence

from application.ports.llm import ChatMessage
from domain.budget import estimate_tokens, message_tokens
from domain.turns import TokenUsage


def estimate_input_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(message_tokens(message.content) for message in messages)


def estimate_usage(messages: Sequence[ChatMessage], output_text: str) -> TokenUsage:
    return TokenUsage(
        input_tokens=estimate_input_tokens(messages),
        cached_input_tokens=0,
        output_tokens=estimate_tokens(output_text),
    )
