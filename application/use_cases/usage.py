"""The caller's usage ledger: rows and totals."""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from application.ports.usage import GroupBy, UsageLedger, UsagePage, UsageTotals
from domain.errors import ValidationFailed

MAX_PAGE = 500


def encode_cursor(after: tuple[datetime, UUID]) -> str:
    return base64.urlsafe_b64encode(f"{after[0].isoformat()}|{after[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        stamp, _, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(stamp), UUID(row_id)
    except ValueError:
        raise ValidationFailed("The cursor is not one this server gave out.") from None


class ListUsageEvents:
    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    async def execute(
        self, user_id: UUID, *, turn_id: UUID | None, session_id: UUID | None, limit: int, cursor: str | None
    ) -> tuple[UsagePage, str | None]:
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.")
        after = decode_cursor(cursor) if cursor else None
        page = await self._ledger.events(user_id, turn_id=turn_id, session_id=session_id, limit=limit, after=after)
        return page, encode_cursor(page.next_after) if page.next_after else None


class UsageSummary:
    def __init__(self, ledger: UsageLedger) -> None:
        self._ledger = ledger

    async def execute(self, user_id: UUID, group_by: GroupBy) -> list[UsageTotals]:
        return await self._ledger.summary(user_id, group_by)
