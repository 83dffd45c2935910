"""The StopWatch of a process: a stop stored by this process reaches its turn at once; one stored by
another is heard through the turn's wake-ups (`TurnEventSignals`: the notice a stored stop sends, and
the one after the listener reconnects), which start a check of that turn at once; and, in case a
notice is lost or nobody listens yet, one query every `interval_s` reads the stops of all the turns
this process runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

from application.errors import StoreUnavailable
from application.ports.signals import TurnEventSignals
from application.ports.stops import OnStop, StopStore
from domain.stopping import StopMode

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.25


class PollingStopWatch:
    def __init__(
        self, store: StopStore, *, interval_s: float = POLL_INTERVAL_S, signals: TurnEventSignals | None = None
    ) -> None:
        self._store, self._interval_s, self._signals = store, interval_s, signals
        self._watched: dict[UUID, OnStop] = {}
        self._unsignal: dict[UUID, Callable[[], None]] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    async def watch(self, turn_id: UUID, on_stop: OnStop, *, read_now: bool = False) -> None:
        # Without `read_now` a stop stored before this call is heard at the next round, like any other.
        found = await self._store.stop_requests([turn_id]) if read_now else {}
        self._watched[turn_id] = on_stop
        if self._signals is not None and turn_id not in self._unsignal:

            def wake(seq: int | None) -> None:
                if seq is None:  # not new events of the turn: maybe its stop (or the listener came back)
                    check = asyncio.ensure_future(self._check([turn_id]))
                    self._checks.add(check)
                    check.add_done_callback(self._checks.discard)

            self._unsignal[turn_id] = self._signals.watch(turn_id, wake)
        if turn_id in found:
            on_stop(found[turn_id])
        if self._loop is None or self._loop.done() or self._loop.get_loop() is not asyncio.get_running_loop():
            # Runs while some turn is watched, ends with the last one: nothing to open or close elsewhere.
            self._loop = asyncio.create_task(self._poll(), name="stop-watch")

    async def current(self, turn_id: UUID) -> StopMode | None:
        return (await self._store.stop_requests([turn_id])).get(turn_id)

    def unwatch(self, turn_id: UUID) -> None:
        self._watched.pop(turn_id, None)
        if (stop := self._unsignal.pop(turn_id, None)) is not None:
            stop()

    def stored(self, turn_id: UUID, mode: StopMode) -> None:
        if (on_stop := self._watched.get(turn_id)) is not None:
            on_stop(mode)

    async def _poll(self) -> None:
        while self._watched:
            await asyncio.sleep(self._interval_s)
            turn_ids = list(self._watched)
            if not turn_ids:
                return
            await self._check(turn_ids)

    async def _check(self, turn_ids: list[UUID]) -> None:
        try:
            found = await self._store.stop_requests(turn_ids)
        except StoreUnavailable:
            return  # the database is down: the turns wait for it too; the next round tries again
        except Exception:
            log.exception("stop watch check failed")
            return
        for turn_id, mode in found.items():
            if (on_stop := self._watched.get(turn_id)) is not None:
                on_stop(mode)
