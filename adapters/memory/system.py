"""Fakes of the Clock and IdGenerator ports: time that stands still, ids that count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FixedClock:
    """Stands still until a test moves it, so timestamps and orderings are exact."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float = 1.0) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


class SequentialIds:
    def __init__(self) -> None:
        self.issued = 0

    def new_id(self) -> UUID:
        self.issued += 1
        return UUID(int=self.issued)
