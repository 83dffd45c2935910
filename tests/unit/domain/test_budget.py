import math

import pytest

from domain.budget import Budget, compute_budget, estimate_tokens, fit_history
from domain.errors import ContextBudgetExceeded


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


def test_fit_history_keeps_newest_items_that_fit():
    # 100 used; newest-first items 300, 400 fit (800), 250 would make 1050 > 1000.
    assert fit_history(60, 40, [300, 400, 250, 10], 1000) == 2


def test_fit_history_stops_at_first_misfit_without_skipping():
    assert fit_history(0, 100, [950, 1, 1], 1000) == 0


def test_fit_history_exact_fit_counts():
    assert fit_history(500, 100, [400], 1000) == 1
    assert fit_history(500, 100, [200, 200], 1000) == 2


def test_fit_history_everything_fits_or_nothing_to_fit():
    assert fit_history(10, 10, [1, 2, 3], 1000) == 3
    assert fit_history(10, 10, [], 1000) == 0


def test_system_and_message_alone_over_budget_raises():
    assert fit_history(600, 400, [1], 1000) == 0
    with pytest.raises(ContextBudgetExceeded) as info:
        fit_history(600, 401, [], 1000)
    assert info.value.code == "context_budget_exceeded"
