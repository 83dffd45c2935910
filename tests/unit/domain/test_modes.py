import pytest

from domain.model import Mode
from domain.modes import apply_pending, request_mode

MAN, RT, ORC = Mode.MANUAL, Mode.ROUNDTABLE, Mode.ORCHESTRATOR


@pytest.mark.parametrize(
    ("current", "pending", "requested", "expected"),
    [
        (MAN, None, MAN, None),  # nothing to change
        (MAN, None, RT, RT),  # a new change waits for the next turn
        (MAN, RT, RT, RT),  # repeating the waiting change keeps it
        (MAN, RT, ORC, ORC),  # the latest request replaces the waiting one
        (MAN, RT, MAN, None),  # asking for the current mode cancels the waiting change
        (ORC, MAN, ORC, None),
        (RT, None, ORC, ORC),
    ],
)
def test_request_mode(current, pending, requested, expected):
    assert request_mode(current, pending, requested) == expected


@pytest.mark.parametrize("current", list(Mode))
@pytest.mark.parametrize("requested", list(Mode))
def test_request_then_apply_runs_the_requested_mode(current, requested):
    pending = request_mode(current, None, requested)
    assert apply_pending(current, pending) == (requested, None)


def test_apply_pending_switches_mode_and_clears_it():
    assert apply_pending(MAN, ORC) == (ORC, None)


def test_apply_without_pending_keeps_current_mode():
    assert apply_pending(RT, None) == (RT, None)
