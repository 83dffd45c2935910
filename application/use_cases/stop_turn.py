"""A user stops a running turn: the request is stored on the turn (any process may receive it) and the
process running the turn acts on it (application/ports/stops.py StopWatch)."""

from __future__ import annotations

from uuid import UUID

from application.ports.clock import Clock
from application.ports.stops import StopStore, StopWatch
from application.ports.turns import TurnStore
from domain.errors import NotFound, TurnNotRunning
from domain.stopping import StopMode
from domain.turns import Turn, TurnStatus


class StopTurn:
    def __init__(self, stops: StopStore, watch: StopWatch, turns: TurnStore, clock: Clock) -> None:
        self._stops, self._watch, self._turns, self._clock = stops, watch, turns, clock

    async def execute(self, user_id: UUID, session_id: UUID, turn_id: UUID, mode: StopMode) -> Turn:
        """The turn as it stands once the stop is recorded. A repeat is harmless (`now` may follow
        `after_step`); TurnNotRunning once the turn has ended; NotFound for no such turn."""
        status = await self._stops.request_stop(user_id, session_id, turn_id, mode, self._clock.now())
        if status is None:
            raise NotFound("No such turn.")
        if status is not TurnStatus.RUNNING:
            raise TurnNotRunning(f"This turn is no longer running (it is {status.value}).", extra={"status": status})
        self._watch.stored(turn_id, mode)  # acted on at once when this process runs the turn
        turn = await self._turns.turn_of(user_id, turn_id)
        if turn is None:  # its room was deleted in the meantime
            raise NotFound("No such turn.")
        return turn
