"""Is the database serving this process? What /healthz answers, and a watchdog over the pool.

The watchdog samples the pool twice a second. A pool whose every connection stays busy while
requests queue for one is exhausted: a slow database, a query that does not finish, or connections
that never came back. Past `alarm_after_s` it logs an error (repeated every minute while it lasts)
and /healthz answers 503, so a load balancer stops sending work here and an operator is told.
"""

from __future__ import annotations

import asyncio
import logging
import time

from adapters.postgres.pool import PantheonPool
from application.errors import StoreUnavailable

log = logging.getLogger(__name__)

PROBE = "SELECT 1 FROM pricing_versions LIMIT 1"  # also proves the migrations were applied
REPEAT_ALARM_S = 60.0


class DatabaseHealth:
    def __init__(
        self,
        pool: PantheonPool,
        *,
        probe_wait_s: float = 1.0,
        alarm_after_s: float = 10.0,
        sample_every_s: float = 0.5,
    ) -> None:
        self._pool = pool
        self._probe_wait_s, self._alarm_after_s, self._sample_every_s = probe_wait_s, alarm_after_s, sample_every_s
        self._exhausted_since: float | None = None
        self._alarmed_at: float | None = None

    def exhausted_for_s(self) -> float:
        return 0.0 if self._exhausted_since is None else time.monotonic() - self._exhausted_since

    def pool_figures(self) -> dict[str, int]:
        """What /healthz shows of the pool: its size, idle connections, waiting requests, checkouts so far."""
        stats = self._pool.get_stats()
        return {
            "size": stats.get("pool_size", 0),
            "max": stats.get("pool_max", 0),
            "available": stats.get("pool_available", 0),
            "waiting": stats.get("requests_waiting", 0),
            "checkouts": stats.get("requests_num", 0),
        }

    async def check(self) -> None:
        """Raises StoreUnavailable unless the database answers promptly and the pool is not exhausted."""
        if self.exhausted_for_s() >= self._alarm_after_s:
            raise StoreUnavailable(
                f"every database connection has been busy for {self.exhausted_for_s():.0f} s", maybe_written=False
            )
        async with self._pool.connection(timeout=self._probe_wait_s) as conn:
            await conn.execute(PROBE)

    def sample(self) -> None:
        stats = self._pool.get_stats()
        now = time.monotonic()
        exhausted = stats.get("pool_available", 0) == 0 and stats.get("requests_waiting", 0) > 0
        if not exhausted:
            if self._alarmed_at is not None:
                log.warning("database pool serving again", extra={"fields": {"pool_size": stats.get("pool_size")}})
            self._exhausted_since = self._alarmed_at = None
            return
        self._exhausted_since = self._exhausted_since or now
        lasting = now - self._exhausted_since
        if lasting >= self._alarm_after_s and (self._alarmed_at is None or now - self._alarmed_at >= REPEAT_ALARM_S):
            self._alarmed_at = now
            log.error(
                "database pool exhausted: every connection busy while requests wait; /healthz answers 503",
                extra={
                    "fields": {
                        "exhausted_s": round(lasting, 1),
                        "pool_size": stats.get("pool_size"),
                        "pool_max": stats.get("pool_max"),
                        "requests_waiting": stats.get("requests_waiting"),
                    }
                },
            )

    async def watch(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self._sample_every_s)
