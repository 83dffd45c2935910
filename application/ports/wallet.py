"""The wallet port: credits a user holds, reservations before each call, the transactions list."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol
from uuid import UUID

import msgspec

from domain.wallet import Credits

TransactionKind = Literal["grant", "debit", "adjustment"]
STARTING_GRANT_KEY = "starting-grant"


class CreditTransaction(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    kind: TransactionKind
    amount: Decimal  # negative for debits
    reason: str
    llm_call_event_id: UUID | None
    actor: str | None
    created_at: datetime


class TurnGate(msgspec.Struct, frozen=True, kw_only=True):
    """What a new turn must pass, atomically with its allocation (TurnStore.allocate): fewer than
    `max_running` turns of the user running, and `hold` (its first call's worst case) reservable from
    the wallet; None when wallets are off."""

    max_running: int
    hold: Decimal | None


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    call_id: UUID
    user_id: UUID
    turn_id: UUID
    step_index: int | None  # None: the turn's summary call
    amount: Decimal
    at: datetime


class WalletStore(Protocol):
    async def credits_of(self, user_id: UUID, now: datetime) -> Credits: ...

    async def transactions_of(
        self, user_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None
    ) -> list[CreditTransaction]:
        """Up to `limit` transactions of the user, newest first (created_at, then id), older than `before`."""
        ...

    async def reserve(self, reservation: Reservation) -> bool:
        """Hold `amount` for a call attempt, atomically against every other movement of the wallet
        (also across processes): False, holding nothing, when the available credits (balance −
        reserved, bounded by the monthly cap) are short. Reserving a call_id twice holds once. Held
        until the step commits (StepRecorder.commit_step settles it into the debit of its ledger row,
        and releases the turn's opening hold too), or the turn's calls are cancelled, or swept."""
        ...

    async def sweep(self, heartbeat_before: datetime) -> int:
        """Release the reservations of turns no longer running, or whose heartbeat is older than
        `heartbeat_before` (their process died); how many were released."""
        ...
