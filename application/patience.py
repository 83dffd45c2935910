"""A running turn waits out a database outage instead of failing (a pause, not a failure).

A turn holds things the database has not seen yet: a provider's answer that cost money, events a
reader is waiting for. Throwing them away because PostgreSQL restarted for ten seconds would be the
worst outcome, so the turn's reads and writes are retried while the store is unavailable, for up to
`limit_s`. Every write they retry is idempotent (an intent is recorded once per call_id, a step once
per index, a turn finished once), so a retry after a write that did land is harmless. Past the limit
the error propagates and the turn is left `running` for recovery, exactly as after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from application.errors import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 1.0


class Patience:
    def __init__(self, limit_s: float, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._limit_s = limit_s
        self._sleep = sleep

    async def retry(self, operation: Callable[[], Awaitable[T]], on_pause: Callable[[], None] | None = None) -> T:
        """`operation()`, retried while it raises StoreUnavailable (at most `limit_s`); `on_pause` is
        called once, when the first attempt fails."""
        delay, paused_at = FIRST_DELAY_S, 0.0
        while True:
            try:
                result = await operation()
            except StoreUnavailable:
                now = time.monotonic()
                if not paused_at:
                    paused_at = now
                    log.warning("database unavailable: the turn waits for it")
                    if on_pause is not None:
                        on_pause()
                elif now - paused_at >= self._limit_s:
                    raise
                await self._sleep(delay)
                delay = min(MAX_DELAY_S, delay * 2)
                continue
            if paused_at:
                paused_s = round(time.monotonic() - paused_at, 2)
                log.info("database back: the turn goes on", extra={"fields": {"paused_s": paused_s}})
            return result
