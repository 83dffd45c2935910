"""The caller's wallet: its credits, and its transactions newest first."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.paging import check_limit, decode_cursor, page
from application.ports.clock import Clock
from application.ports.wallet import CreditTransaction, WalletStore
from domain.wallet import Credits


class ShowCredits:
    def __init__(self, wallet: WalletStore, clock: Clock) -> None:
        self._wallet, self._clock = wallet, clock

    async def execute(self, user_id: UUID) -> Credits:
        return await self._wallet.credits_of(user_id, self._clock.now())


class ListTransactions:
    def __init__(self, wallet: WalletStore) -> None:
        self._wallet = wallet

    async def execute(
        self, user_id: UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[CreditTransaction], str | None]:
        before = decode_cursor(cursor, tuple[datetime, UUID])
        found = await self._wallet.transactions_of(user_id, limit=check_limit(limit) + 1, before=before)
        return page(found, limit, lambda tx: (tx.created_at, tx.id))
