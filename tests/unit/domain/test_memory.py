"""The rules of session memory: when a summary is due (each threshold once), what a summary must be,
and which raw turns a call keeps (pinned parts never dropped, history never a reason to fail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.errors import ContextBudgetExceeded
from domain.memory import (
    KEEP_RECENT_TURNS,
    Summary,
    SummaryError,
    decode_summary,
    foldable_through,
    keep_history,
    summary_due,
)

AT = datetime(2026, 12, 2, tzinfo=UTC)


def summary(through: int, written_at: int) -> Summary:
    return Summary(
        id=uuid4(),
        session_id=uuid4(),
        through_turn_index=through,
        summary_text="so far",
        key_facts=[],
        decisions=[],
        open_questions=[],
        action_items=[],
        created_at=AT,
        turn_index=written_at,
    )


def test_the_turn_count_threshold_fires_once_every_8_turns():
    due = []
    last = None
    for index in range(30):
        why = summary_due(index, last, context_tokens=10, smallest_budget=10_000)
        if why:
            due.append((index, why))
            last = summary(foldable_through(index), index)
    assert due == [(8, "turns"), (16, "turns"), (24, "turns")]
    assert last is not None and last.through_turn_index == 24 - 1 - KEEP_RECENT_TURNS


def test_the_budget_threshold_fires_at_70_percent_and_not_again_until_there_is_more_to_fold():
    assert summary_due(6, None, context_tokens=699, smallest_budget=1000) is None
    assert summary_due(6, None, context_tokens=700, smallest_budget=1000) == "budget"
    written = summary(foldable_through(6), 6)  # folds turns 0 and 1
    # Still over 70 % (the last four turns are big), but nothing outside them is left to fold.
    assert summary_due(7, written, context_tokens=900, smallest_budget=1000) == "budget"  # turn 2 is foldable now
    again = summary(foldable_through(7), 7)
    assert summary_due(7, again, context_tokens=900, smallest_budget=1000) is None


def test_nothing_is_due_while_every_turn_is_among_the_last_four():
    for index in range(KEEP_RECENT_TURNS + 1):
        assert summary_due(index, None, context_tokens=10**6, smallest_budget=100) is None
    assert summary_due(KEEP_RECENT_TURNS + 1, None, context_tokens=10**6, smallest_budget=100) == "budget"


def valid(**changes: object) -> str:
    body = {"summary_text": "We chose PostgreSQL.", "key_facts": ["Fact: the code is AMBER-7."], "decisions": [],
            "open_questions": [], "action_items": []}
    return json.dumps({**body, **changes})


def test_a_valid_summary_decodes_and_a_fenced_one_too():
    assert decode_summary(valid()).key_facts == ["Fact: the code is AMBER-7."]
    assert decode_summary("```json\n" + valid() + "\n```").summary_text == "We chose PostgreSQL."


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("The council talked.", "not one JSON object"),
        (json.dumps({"summary_text": "x"}), "schema"),
        (valid(extra=1), "schema"),
        (valid(key_facts="one"), "schema"),
        (valid(summary_text="  "), "summary_text is empty"),
        (valid(decisions=[""]), "decisions"),
        (valid(action_items=["x"] * 41), "more than 40"),
    ],
)
def test_an_invalid_summary_is_refused_saying_why(text: str, why: str):
    with pytest.raises(SummaryError, match=why):
        decode_summary(text)


def test_everything_is_kept_below_90_percent():
    assert keep_history(100, [100, 100, 100, 100, 100, 100], 1000) == 6  # 700 of 1000


def test_at_90_percent_the_turns_outside_the_last_four_are_pruned():
    # 100 pinned + 6 × 140 = 940 >= 900: the two oldest go although they would fit.
    assert keep_history(100, [140] * 6, 1000) == KEEP_RECENT_TURNS


def test_then_the_oldest_of_the_last_four_go_as_needed_but_history_never_fails():
    assert keep_history(400, [250, 250, 250, 250, 250], 1000) == 2
    assert keep_history(990, [50, 50], 1000) == 0  # no history fits: the call still goes out


def test_pinned_parts_that_cannot_fit_fail_with_the_figures():
    assert keep_history(1000, [1], 1000) == 0
    with pytest.raises(ContextBudgetExceeded) as info:
        keep_history(1001, [], 1000)
    assert info.value.code == "context_budget_exceeded"
    assert info.value.extra == {"required_tokens": 1001, "input_budget": 1000}
