"""The caller's usage ledger: rows and totals."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.paging import check_limit, decode_cursor, encode_cursor
from application.ports.usage import GroupBy, UsageLedger, UsagePage, UsageTotals


class ListUsageEvents:
    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    async def execute(
        self, user_id: UUID, *, turn_id: UUID | None, session_id: UUID | None, limit: int, cursor: str | None
    ) -> tuple[UsagePage, str | None]:
        after = decode_cursor(cursor, tuple[datetime, UUID])
        found = await self._ledger.events(
            user_id, turn_id=turn_id, session_id=session_id, limit=check_limit(limit), after=after
        )
        return found, encode_cursor(found.next_after) if found.next_after else None


class UsageSummary:
    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    async def execute(self, user_id: UUID, group_by: GroupBy) -> list[UsageTotals]:
        return await self._ledger.summary(user_id, group_by)
