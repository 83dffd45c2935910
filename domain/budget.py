"""Context budget math for one agent call (docs/design.md, "Context budget"), in exact integers."""

from __future__ import annotations

import msgspec

DEFAULT_CONTEXT_WINDOW = 8192
DEFAULT_MAX_OUTPUT_TOKENS = 2048
MIN_OVERHEAD_RESERVE = 1024
# Chat formats wrap every message in role markers; a few tokens each is what real tokenizers add.
MESSAGE_OVERHEAD_TOKENS = 4


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    limit: int
    output_reserve: int
    overhead_reserve: int
    input_budget: int


def estimate_tokens(text: str) -> int:
    """ceil(chars / 4 * 1.25) for models without a tokenizer; integer math avoids float rounding."""
    return -(-len(text) * 5 // 16)


def message_tokens(content: str) -> int:
    """One chat message's estimate: its text and its role markers."""
    return estimate_tokens(content) + MESSAGE_OVERHEAD_TOKENS


def compute_budget(context_window: int | None, max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS) -> Budget:
    """Split a model's context window into output, overhead and input reserves."""
    if max_output_tokens < 0:
        raise ValueError("max_output_tokens cannot be negative")
    limit = context_window if context_window is not None and context_window > 0 else DEFAULT_CONTEXT_WINDOW
    output_reserve = min(max_output_tokens, limit // 5)  # floor(0.20 * limit)
    overhead_reserve = max(MIN_OVERHEAD_RESERVE, limit // 20)  # floor(0.05 * limit)
    # A tiny window can leave nothing for input; never report a negative budget.
    input_budget = max(0, limit - output_reserve - overhead_reserve)
    return Budget(
        limit=limit,
        output_reserve=output_reserve,
        overhead_reserve=overhead_reserve,
        input_budget=input_budget,
    )
