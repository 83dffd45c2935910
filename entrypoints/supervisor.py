"""Background duties of a server process: heartbeat its running turns, and adopt turns whose process died."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from adapters.postgres.checkpointer import prune_finished_threads
from entrypoints.logs import turn_id_var

log = logging.getLogger("pantheon.turns")


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
        claimed = await recover.claim()
        for context, resume in claimed:
            if resume:
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
        while True:
            await asyncio.sleep(self._interval)
            try:
                runner = self._container.runner()
                await self._container.turn_store().heartbeat(runner.active_turn_ids(), self._container.clock().now())
                await self.adopt_stale_turns()
                await prune_finished_threads(self._container.pool())
            except Exception:
                log.exception("turn supervisor round failed")
