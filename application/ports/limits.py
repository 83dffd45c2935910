from __future__ import annotations

from typing import Protocol
from uuid import UUID


class RequestLimiter(Protocol):
    """Requests per minute per user (PANTHEON_RATE_LIMIT_PER_MINUTE). May count per server process."""

    limit: int

    def admit(self, user_id: UUID) -> float | None:
        """None when the request may go ahead (and counts); else the seconds until one would."""
        ...
