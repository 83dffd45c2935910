"""The background loop of a server process around SuperviseTurns: a round every `interval`, and a
task per adopted turn that resumes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from application.errors import StoreUnavailable
from application.ports.turns import TurnContext
from application.use_cases.supervise_turns import SuperviseTurns
from entrypoints.logs import turn_id_var

log = logging.getLogger("pantheon.turns")
OUTAGE_RETRY_S = 0.5


class TurnSupervisor:
    def __init__(self, supervise: SuperviseTurns, *, stale_after_s: float) -> None:
        self._supervise = supervise
        # Heartbeats come often enough that a live turn never looks stale to another process.
        self._interval = max(0.05, min(10.0, stale_after_s / 3))
        self._loop_task: asyncio.Task[None] | None = None
        self._resuming: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._resume_all(await self._supervise.adopt())
        self._loop_task = asyncio.create_task(self._loop(), name="turn-supervisor")

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._resuming):
            task.cancel()
        await asyncio.gather(*self._resuming, return_exceptions=True)

    def _resume_all(self, adopted: list[TurnContext]) -> None:
        for context in adopted:
            task = asyncio.create_task(self._resume(context), name=f"resume-{context.turn_id}")
            self._resuming.add(task)
            task.add_done_callback(self._resuming.discard)

    async def _resume(self, context: TurnContext) -> None:
        token = turn_id_var.set(str(context.turn_id))
        try:
            await self._supervise.resume(context)
        except Exception:
            log.exception("resuming a turn failed")
        finally:
            turn_id_var.reset(token)

    async def _loop(self) -> None:
        interval = self._interval
        while True:
            await asyncio.sleep(interval)
            try:
                self._resume_all(await self._supervise.round())
            except StoreUnavailable:
                # Heartbeat again as soon as the database is back, before other processes see our turns as stale.
                log.warning("turn supervisor: database unavailable")
                interval = min(self._interval, OUTAGE_RETRY_S)
                continue
            except Exception:
                log.exception("turn supervisor round failed")
            interval = self._interval
