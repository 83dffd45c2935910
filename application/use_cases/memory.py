"""Reading a session's memory back: its newest summary, and why each call of a turn saw what it saw."""

from __future__ import annotations

from uuid import UUID

from application.ports.memory import SummaryStore
from application.ports.turns import ContextAudit
from domain.errors import NotFound
from domain.memory import Summary


class GetSummary:
    def __init__(self, memory: SummaryStore) -> None:
        self._memory = memory

    async def execute(self, user_id: UUID, session_id: UUID) -> Summary:
        summary = await self._memory.summary_of(user_id, session_id)
        if summary is None:
            raise NotFound("This session has no summary yet.")
        return summary


class GetTurnContext:
    def __init__(self, memory: SummaryStore) -> None:
        self._memory = memory

    async def execute(self, user_id: UUID, session_id: UUID, turn_id: UUID) -> list[ContextAudit]:
        audits = await self._memory.context_of(user_id, session_id, turn_id)
        if audits is None:
            raise NotFound("No such turn.")
        return audits
