"""The StopWatch that polls: one query every `interval_s` for all the turns this process runs, so a
stop stored by any process reaches the running turn within that interval; a stop stored by this
process reaches it at once. A LISTEN/NOTIFY wake-up can replace the loop behind the same port."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from application.errors import StoreUnavailable
from application.ports.stops import OnStop, StopStore
from domain.stopping import StopMode

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.25


class PollingStopWatch:
    def __init__(self, store: StopStore, *, interval_s: float = POLL_INTERVAL_S) -> None:
        self._store, self._interval_s = store, interval_s
        self._watched: dict[UUID, OnStop] = {}
        self._loop: asyncio.Task[None] | None = None

    async def watch(self, turn_id: UUID, on_stop: OnStop, *, read_now: bool = False) -> None:
        # Without `read_now` a stop stored before this call is heard at the next round, like any other.
        found = await self._store.stop_requests([turn_id]) if read_now else {}
        self._watched[turn_id] = on_stop
        if turn_id in found:
            on_stop(found[turn_id])
        if self._loop is None or self._loop.done() or self._loop.get_loop() is not asyncio.get_running_loop():
            # Runs while some turn is watched, ends with the last one: nothing to open or close elsewhere.
            self._loop = asyncio.create_task(self._poll(), name="stop-watch")

    async def current(self, turn_id: UUID) -> StopMode | None:
        return (await self._store.stop_requests([turn_id])).get(turn_id)

    def unwatch(self, turn_id: UUID) -> None:
        self._watched.pop(turn_id, None)

    def stored(self, turn_id: UUID, mode: StopMode) -> None:
        if (on_stop := self._watched.get(turn_id)) is not None:
            on_stop(mode)

    async def _poll(self) -> None:
        while self._watched:
            await asyncio.sleep(self._interval_s)
            turn_ids = list(self._watched)
            if not turn_ids:
                return
            try:
                found = await self._store.stop_requests(turn_ids)
            except StoreUnavailable:
                continue  # the database is down: the turns wait for it too; try again next round
            except Exception:
                log.exception("stop watch round failed")
                continue
            for turn_id, mode in found.items():
                if (on_stop := self._watched.get(turn_id)) is not None:
                    on_stop(mode)
