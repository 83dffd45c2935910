"""Requests per minute per user, counted in this process (a token bucket per user): with N server
processes behind a balancer a user gets up to N × the limit. The limits that protect money (running
turns, credits) are enforced in PostgreSQL instead."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

MAX_TRACKED = 100_000  # users whose buckets are kept; beyond that, full buckets are forgotten


class TokenBucketLimiter:
    def __init__(self, per_minute: int, *, now: Callable[[], float] = time.monotonic) -> None:
        self.limit = per_minute
        self._rate = per_minute / 60.0  # tokens per second
        self._now = now
        self._buckets: dict[UUID, tuple[float, float]] = {}  # user -> (tokens, at)

    def admit(self, user_id: UUID) -> float | None:
        if self.limit <= 0:
            return None  # 0 switches the limit off
        now = self._now()
        tokens, at = self._buckets.get(user_id, (float(self.limit), now))
        tokens = min(float(self.limit), tokens + (now - at) * self._rate)
        if tokens < 1.0:
            self._buckets[user_id] = (tokens, now)
            return (1.0 - tokens) / self._rate
        if len(self._buckets) >= MAX_TRACKED:
            self._buckets = {u: b for u, b in self._buckets.items() if b[0] < self.limit - 1}
        self._buckets[user_id] = (tokens - 1.0, now)
        return None
