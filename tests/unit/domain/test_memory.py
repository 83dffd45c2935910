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
    keep_history,
    plan_summary,
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


def raw_turns(newest: int, tokens: int, oldest: int = 0) -> list[tuple[int, int]]:
    return [(i, tokens) for i in range(newest, oldest - 1, -1)]


def test_the_turn_count_threshold_fires_once_every_8_turns_and_folds_all_but_the_last_4():
    due = []
    last = None
    for index in range(30):
        folded = last.through_turn_index if last else -1
        plan = plan_summary(index, last, 10, 10_000, raw_turns(index - 1, 1, folded + 1))
        if plan:
            due.append((index, *plan))
            last = summary(plan[1], index)
    assert due == [(8, "turns", 3), (16, "turns", 11), (24, "turns", 19)]
    assert 24 - 1 - KEEP_RECENT_TURNS == 19


def test_the_budget_threshold_fires_at_70_percent_and_folds_down_to_a_quarter_of_the_budget():
    raw = raw_turns(5, 100)  # turns 5..0, 100 tokens each
    assert plan_summary(6, None, 699, 1000, raw) is None
    # 250 tokens stay raw at most: the two newest turns (200), all older ones are folded.
    assert plan_summary(6, None, 700, 1000, raw) == ("budget", 3)
    # Huge turns: not even the newest fits in the quarter, everything is folded.
    assert plan_summary(6, None, 900, 1000, raw_turns(5, 300)) == ("budget", 5)


def test_the_budget_threshold_does_not_fire_again_until_there_is_something_to_fold():
    written = summary(3, 6)
    # Right after the summary the context is low: nothing is due, whatever the turn count.
    assert plan_summary(7, written, 400, 1000, raw_turns(6, 100, 4)) is None
    # Everything unfolded fits in the quarter and the summary alone fills the context: nothing to fold.
    assert plan_summary(7, summary(5, 6), 800, 1000, raw_turns(6, 100, 6)) is None


def test_nothing_is_due_while_every_turn_is_among_the_last_four_by_count():
    for index in range(KEEP_RECENT_TURNS + 1):
        assert plan_summary(index, None, 10, 100, raw_turns(index - 1, 1)) is None
    assert plan_summary(8, None, 10, 100, raw_turns(7, 1)) == ("turns", 3)


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
