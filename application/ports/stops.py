"""Ports of stopping a turn: where a stop request is stored (any process may receive it), and how the
process running the turn hears of it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.stopping import StopMode
from domain.turns import TurnStatus


class StopStore(Protocol):
    async def request_stop(
        self, user_id: UUID, session_id: UUID, turn_id: UUID, mode: StopMode, at: datetime
    ) -> TurnStatus | None:
        """Record a stop request on the user's turn of that session (in a live room) if it is still
        running; a repeat keeps the first request's time, and `now` overrides `after_step`, never the
        reverse. Returns the turn's status as the request found it (`running`: recorded), None when
        there is no such turn."""
        ...

    async def stop_requests(self, turn_ids: list[UUID]) -> dict[UUID, StopMode]:
        """The stop requested on each of these turns that has one (one query for them all)."""
        ...


OnStop = Callable[[StopMode], None]


class StopWatch(Protocol):
    """Tells the process running a turn that a stop was requested, within a second of the request, from
    whichever process stored it. (Polling today; a LISTEN/NOTIFY wake-up can stand in for it.)"""

    async def watch(self, turn_id: UUID, on_stop: OnStop, *, read_now: bool = False) -> None:
        """Call `on_stop` for the turn's stop request when one is stored, until `unwatch`; with
        `read_now` (a resumed turn), one stored already is applied before this returns. `on_stop` may
        be called more than once (it must be idempotent)."""
        ...

    def unwatch(self, turn_id: UUID) -> None: ...

    async def current(self, turn_id: UUID) -> StopMode | None:
        """The stop stored for the running turn right now (one read), None when there is none."""
        ...

    def stored(self, turn_id: UUID, mode: StopMode) -> None:
        """A stop request for the turn was just stored by this process: no need to wait for the next check."""
        ...
