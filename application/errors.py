"""Failures of the infrastructure behind the ports, in terms a use case can act on."""

from __future__ import annotations

from uuid import UUID

from domain.turns import StepError


class StoreUnavailable(Exception):
    """The database cannot be reached, or has no connection to spare, right now: a temporary condition.

    `maybe_written` is False when nothing was sent (no connection could be had), so the operation
    certainly did not happen; True when the failure came mid-statement, so it may have been applied.
    """

    def __init__(self, detail: str, *, maybe_written: bool) -> None:
        super().__init__(detail)
        self.maybe_written = maybe_written


class TurnUnavailable(StoreUnavailable):
    """The database failed after a turn was allocated (`started` True) or while it may have been (None).

    A started turn is not lost: it waits for the database and runs to its end, or is recovered like
    after a crash; the caller can fetch it by id, or repeat its request with the same Idempotency-Key.
    """

    def __init__(self, detail: str, *, turn_id: UUID, started: bool | None) -> None:
        super().__init__(detail, maybe_written=True)
        self.turn_id, self.started = turn_id, started


class CallRefused(Exception):
    """Raised by an AttemptObserver before an attempt is sent, to stop the call there: the attempt is
    not sent, and the call ends with `error` (e.g. its worst case could not be reserved)."""

    def __init__(self, error: StepError) -> None:
        super().__init__(error.detail)
        self.error = error
