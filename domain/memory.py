"""Session memory (docs/design.md, "Session memory"): when a session's older turns are folded into a
summary, how a summary is decoded, and which raw turns a call keeps. Pure rules, in exact integers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from domain.errors import ContextBudgetExceeded

SUMMARY_EVERY_TURNS = 8  # a summary at least every 8 turns (when there is something to fold)
SUMMARY_AT_PERCENT = 70  # ... or as soon as the context reaches 70 % of the smallest budget
PRUNE_AT_PERCENT = 90  # after summarising, at 90 % the raw turns outside the last 4 leave the prompt
KEEP_RECENT_TURNS = 4  # the newest turns: folded last and pruned last
KEEP_AFTER_BUDGET_PERCENT = 25  # a summary the budget called for keeps raw only the newest turns in 25 %
MAX_SUMMARY_ITEMS = 40  # per list of a summary
MAX_SUMMARY_ITEM_CHARS = 1_000
MAX_SUMMARY_TEXT_CHARS = 8_000


class SummaryContent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the summariser must answer: one JSON object of exactly these fields."""

    summary_text: str
    key_facts: list[str]
    decisions: list[str]
    open_questions: list[str]
    action_items: list[str]


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """A stored summary: every turn of its session up to `through_turn_index` folded into it, written
    (and paid for) by the turn `turn_id` at index `turn_index`."""

    id: UUID
    session_id: UUID
    through_turn_index: int
    summary_text: str
    key_facts: list[str]
    decisions: list[str]
    open_questions: list[str]
    action_items: list[str]
    created_at: datetime
    turn_id: UUID | None = None
    turn_index: int = 0


SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary_text": {"type": "string"},
        **{
            name: {"type": "array", "items": {"type": "string"}}
            for name in ("key_facts", "decisions", "open_questions", "action_items")
        },
    },
    "required": ["summary_text", "key_facts", "decisions", "open_questions", "action_items"],
    "additionalProperties": False,
}


class SummaryError(ValueError):
    """The summariser's answer is not a valid summary; the message says why, for the repair call."""


_decoder = msgspec.json.Decoder(SummaryContent)


def decode_summary(text: str) -> SummaryContent:
    """Strictly one JSON object of the five fields (a fenced ```json block is tolerated), within bounds."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        content = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise SummaryError(f"the summary does not match the schema: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise SummaryError("the answer is not one JSON object") from exc
    if not content.summary_text.strip():
        raise SummaryError("summary_text is empty")
    if len(content.summary_text) > MAX_SUMMARY_TEXT_CHARS:
        raise SummaryError(f"summary_text is longer than {MAX_SUMMARY_TEXT_CHARS} characters")
    for name in ("key_facts", "decisions", "open_questions", "action_items"):
        items: list[str] = getattr(content, name)
        if len(items) > MAX_SUMMARY_ITEMS:
            raise SummaryError(f"{name} holds more than {MAX_SUMMARY_ITEMS} items")
        if any(not item.strip() or len(item) > MAX_SUMMARY_ITEM_CHARS for item in items):
            raise SummaryError(f"every item of {name} must hold 1 to {MAX_SUMMARY_ITEM_CHARS} characters")
    return content


def plan_summary(
    turn_index: int,
    last: Summary | None,
    context_tokens: int,
    smallest_budget: int,
    raw: Sequence[tuple[int, int]],
) -> tuple[str, int] | None:
    """Whether the turn `turn_index` must summarise first: (why, the newest turn to fold), or None.

    `raw` lists the unfolded turns as (turn_index, tokens), newest first; `context_tokens` is the
    session's context as the turn finds it. A summary is due when that context reaches 70 % of the
    smallest input budget among the turn's agents ("budget"): it folds the older turns, keeping raw
    only the newest that fit in a quarter of the budget (at most 4), so the context falls well below
    the threshold and the next crossing is a real one. Else 8 turns after the last summary (after the
    session's start for the first) ("turns"): it folds all but the last 4 turns. Either fires only when
    there is something to fold: a threshold fires once, not on every turn after it."""
    folded = last.through_turn_index if last else -1
    if context_tokens * 100 >= SUMMARY_AT_PERCENT * smallest_budget:
        kept, total = 0, 0
        for _, tokens in raw[:KEEP_RECENT_TURNS]:
            if (total + tokens) * 100 > KEEP_AFTER_BUDGET_PERCENT * smallest_budget:
                break
            kept, total = kept + 1, total + tokens
        through = raw[kept - 1][0] - 1 if kept else turn_index - 1
        if through > folded:
            return "budget", through
    since = turn_index - (last.turn_index if last else 0)
    through = turn_index - 1 - KEEP_RECENT_TURNS
    if since >= SUMMARY_EVERY_TURNS and through > folded:
        return "turns", through
    return None


def keep_history(pinned_tokens: int, history_tokens: Sequence[int], budget: int) -> int:
    """How many of the newest raw turns (`history_tokens` newest first) stay in the prompt.

    The pinned parts (system layers, summary, this turn's earlier answers, the current message) are
    never dropped: when they alone exceed `budget` the call cannot be made (ContextBudgetExceeded).
    At 90 % of the budget the turns outside the last 4 are pruned; then the oldest of those 4 as
    needed, so history alone never fails a call."""
    if pinned_tokens > budget:
        raise ContextBudgetExceeded(
            f"The message needs about {pinned_tokens} tokens of context but the model allows {budget}.",
            extra={"required_tokens": pinned_tokens, "input_budget": budget},
        )
    kept = len(history_tokens)
    total = pinned_tokens + sum(history_tokens)
    if total * 100 >= PRUNE_AT_PERCENT * budget and kept > KEEP_RECENT_TURNS:
        total -= sum(history_tokens[KEEP_RECENT_TURNS:])
        kept = KEEP_RECENT_TURNS
    while kept and total > budget:
        kept -= 1
        total -= history_tokens[kept]
    return kept
