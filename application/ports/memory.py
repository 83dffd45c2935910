"""The session-memory port: a session's summaries and the context audit of its turns' calls."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from application.ports.turns import ContextAudit
from domain.memory import Summary


class SummaryStore(Protocol):
    async def latest_summary(self, session_id: UUID) -> Summary | None:
        """The session's newest summary (the one folding the most turns), or None before the first."""
        ...

    async def summary_of(self, user_id: UUID, session_id: UUID) -> Summary | None:
        """The user's session's newest summary; None when there is none or no such session of theirs."""
        ...

    async def context_of(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> list[ContextAudit] | None:
        """The audit rows of the turn's calls in the order they were made; None when the user has no
        such turn in that session."""
        ...
