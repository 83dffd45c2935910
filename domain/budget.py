"""Context budget math for one agent call (docs/design.md, "Context budget"), in exact integers."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from domain.errors import ContextBudgetExceeded

DEFAULT_CONTEXT_WINDOW = 8192
DEFAULT_MAX_OUTPUT_TOKENS = 2048
MIN_OVERHEAD_RESERVE = 1024


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    limit: int
    output_reserve: int
    overhead_reserve: int
    input_budget: int


def estimate_tokens(text: str) -> int:
    """ceil(chars / 4 * 1.25) for models without a tokenizer; integer math avoids float rounding."""
    return -(-len(text) * 5 // 16)


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


def fit_history(system_tokens: int, current_tokens: int, history_token_counts: Sequence[int], budget: int) -> int:
    """How many of the newest history items (given newest-first) fit beside the system prompt and message.

    Items are taken newest-first and stop at the first that does not fit, so the kept history is
    always a contiguous recent stretch, never one with holes in it.
    Raises ContextBudgetExceeded when the system prompt and current message alone exceed `budget`.
    """
    used = system_tokens + current_tokens
    if used > budget:
        raise ContextBudgetExceeded(
            f"The message needs about {used} tokens of context but the model allows {budget}.",
            extra={"required_tokens": used, "input_budget": budget},
        )
    kept = 0
    for tokens in history_token_counts:
        if used + tokens > budget:
            break
        used += tokens
        kept += 1
    return kept
