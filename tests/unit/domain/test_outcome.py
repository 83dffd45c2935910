import pytest

from domain.outcome import turn_status
from domain.turns import StepStatus, TurnStatus

C, F = StepStatus.COMPLETED, StepStatus.FAILED


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([C], TurnStatus.COMPLETED),
        ([C, C, C], TurnStatus.COMPLETED),
        ([C, F], TurnStatus.PARTIAL),
        ([F, F, C], TurnStatus.PARTIAL),
        ([F], TurnStatus.FAILED),
        ([F, F], TurnStatus.FAILED),
        ([], TurnStatus.FAILED),
    ],
)
def test_turn_status(statuses, expected):
    assert turn_status(statuses) is expected


def test_accepts_a_generator():
    assert turn_status(s for s in (C, F)) is TurnStatus.PARTIAL
