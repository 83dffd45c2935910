"""Background duties of a server process: heartbeat its running turns, and adopt turns whose process died."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from adapters.postgres.checkpointer import prune_finished_threads
from application.errors import StoreUnavailable
from entrypoints.logs import turn_id_var

log = logging.getLogger("pantheon.turns")
OUTAGE_RETRY_S = 0.5


class TurnSupervisor:
    def __init__(self, container: Any, *, stale_after_s: float) -> None:
        self._container = container
        # Heartbeats come often enough that a live turn never looks stale to another process.
        self._interval = max(0.05, min(10.0, stale_after_s / 3))
        self._loop_task: asyncio.Task[None] | None = None
        self._resuming: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.adopt_stale_turns()
        self._loop_task = asyncio.create_task(self._loop(), name="turn-supervisor")

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._resuming):
            task.cancel()
        await asyncio.gather(*self._resuming, return_exceptions=True)

    async def adopt_stale_turns(self) -> int:
        recover = self._container.recover_turns()
        claimed = await recover.claim(running_here=set(self._container.run_turn().running_here()))
        for context in claimed:
            task = asyncio.create_task(self._resume(recover, context), name=f"resume-{context.turn_id}")
            self._resuming.add(task)
            task.add_done_callback(self._resuming.discard)
        return len(claimed)

    async def _resume(self, recover: Any, context: Any) -> None:
        token = turn_id_var.set(str(context.turn_id))
        try:
            await recover.resume(context)
        except Exception:
            log.exception("resuming a turn failed")
        finally:
            turn_id_var.reset(token)

    async def _loop(self) -> None:
        interval = self._interval
        while True:
            await asyncio.sleep(interval)
            try:
                running = self._container.run_turn().running_here()
                await self._container.turn_store().heartbeat(running, self._container.clock().now())
                await self.adopt_stale_turns()
                await prune_finished_threads(self._container.pool())
            except StoreUnavailable:
                # Heartbeat again as soon as the database is back, before other processes see our turns as stale.
                log.warning("turn supervisor: database unavailable")
                interval = min(self._interval, OUTAGE_RETRY_S)
                continue
            except Exception:
                log.exception("turn supervisor round failed")
            interval = self._interval
