from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol
from uuid import UUID

import msgspec

from application.ports.turns import LedgerEntry

GroupBy = Literal["model", "day", "room"]


class UsagePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LedgerEntry]
    next_after: tuple[datetime, UUID] | None


class UsageTotals(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    llm_calls: int
    input_tokens: int
    output_tokens: int
    credits: Decimal
    provider_cost_usd: Decimal


class UsageLedger(Protocol):
    async def events(
        self,
        user_id: UUID,
        *,
        turn_id: UUID | None,
        session_id: UUID | None,
        limit: int,
        after: tuple[datetime, UUID] | None,
    ) -> UsagePage:
        """The caller's rows oldest first, keyset-paginated on (created_at, id)."""
        ...

    async def summary(self, user_id: UUID, group_by: GroupBy) -> list[UsageTotals]: ...
