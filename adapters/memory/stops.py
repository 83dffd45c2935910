"""The in-process fake of the StopStore port, over the MemoryDatabase the turn fakes use."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from adapters.memory.stores import MemoryDatabase
from domain.stopping import StopMode
from domain.turns import TurnStatus


class MemoryStopStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def request_stop(
        self, user_id: UUID, session_id: UUID, turn_id: UUID, mode: StopMode, at: datetime
    ) -> TurnStatus | None:
        row = self._db.turns.get(turn_id)
        if row is None or row.context.user_id != user_id or row.context.session_id != session_id:
            return None
        if self._db.live_room(user_id, row.context.room_id) is None:
            return None
        if row.status is TurnStatus.RUNNING:
            row.stop_mode = StopMode.NOW if row.stop_mode is StopMode.NOW else mode
            row.stop_requested_at = row.stop_requested_at or at
            for hook in list(self._db.event_hooks):  # the notice PostgreSQL sends (adapters/postgres/stops.py)
                hook(turn_id, None)
        return row.status

    async def stop_requests(self, turn_ids: list[UUID]) -> dict[UUID, StopMode]:
        found = {}
        for turn_id in turn_ids:
            row = self._db.turns.get(turn_id)
            if row is not None and row.stop_mode is not None and row.status is TurnStatus.RUNNING:
                found[turn_id] = row.stop_mode
        return found
