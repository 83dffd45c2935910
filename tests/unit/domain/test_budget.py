import math

import pytest

from domain.budget import Budget, compute_budget, estimate_tokens, message_tokens


@pytest.mark.parametrize(
    ("chars", "tokens"),
    [(0, 0), (1, 1), (3, 1), (4, 2), (16, 5), (17, 6), (32, 10), (1000, 313), (50_000, 15_625)],
)
def test_estimate_tokens(chars, tokens):
    assert estimate_tokens("x" * chars) == tokens


def test_estimate_tokens_matches_formula_and_counts_characters_not_bytes():
    for n in range(200):
        assert estimate_tokens("a" * n) == math.ceil(n / 4 * 1.25)
    assert estimate_tokens("é" * 16) == 5


def test_budget_for_8k_window():
    assert compute_budget(8192) == Budget(limit=8192, output_reserve=1638, overhead_reserve=1024, input_budget=5530)


def test_budget_for_128k_window():
    budget = compute_budget(131072)
    assert budget == Budget(limit=131072, output_reserve=2048, overhead_reserve=6553, input_budget=122471)


@pytest.mark.parametrize("window", [None, 0, -5])
def test_unknown_window_defaults_to_8192(window):
    assert compute_budget(window) == compute_budget(8192)


def test_budget_with_custom_max_output():
    assert compute_budget(131072, max_output_tokens=512).output_reserve == 512
    assert compute_budget(32768, max_output_tokens=100_000).output_reserve == 6553  # floor(0.20 * 32768)
    assert compute_budget(32768, max_output_tokens=100_000).input_budget == 32768 - 6553 - 1638


def test_tiny_window_has_no_negative_input_budget():
    assert compute_budget(1000) == Budget(limit=1000, output_reserve=200, overhead_reserve=1024, input_budget=0)


def test_negative_max_output_is_rejected():
    with pytest.raises(ValueError):
        compute_budget(8192, max_output_tokens=-1)


def test_a_message_costs_its_text_and_its_role_markers():
    assert message_tokens("") == 4
    assert message_tokens("x" * 16) == estimate_tokens("x" * 16) + 4 == 9
