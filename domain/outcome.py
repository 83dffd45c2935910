"""Partial-failure policy: a turn's status from the statuses of its steps."""

from __future__ import annotations

from collections.abc import Iterable

from domain.turns import StepStatus, TurnStatus


def turn_status(step_statuses: Iterable[StepStatus]) -> TurnStatus:
    """`completed` if every step completed, `partial` if some did, `failed` if none did (or no steps)."""
    completed = failed = 0
    for status in step_statuses:
        if status is StepStatus.COMPLETED:
            completed += 1
        else:
            failed += 1
    if completed == 0:
        # A turn that produced no answer at all has failed, even if it had no steps to fail.
        return TurnStatus.FAILED
    return TurnStatus.PARTIAL if failed else TurnStatus.COMPLETED
