"""The operator's port: accounts with their wallets, grants, caps, suspension, usage across users,
the ledger export, and the audit log every admin write lands in (in the write's own transaction)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol
from uuid import UUID

import msgspec

from application.ports.turns import LedgerEntry
from application.ports.wallet import CreditTransaction
from domain.model import User
from domain.wallet import Credits

AdminGroupBy = Literal["user", "model", "day"]


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    display_name: str | None
    role: Literal["user", "admin"]
    suspended: bool
    credits: Credits
    created_at: datetime


class AuditNote(msgspec.Struct, frozen=True, kw_only=True):
    """Who writes what, to be logged with the write (its before/after are taken by the store)."""

    id: UUID
    actor_id: UUID | None  # None: the `pantheon admin` command
    action: str
    at: datetime


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    actor_id: UUID | None
    action: str
    target_user_id: UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    amount: Decimal  # > 0 a grant, < 0 an adjustment
    reason: str
    idempotency_key: str
    actor: str


class AdminUsage(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    llm_calls: int
    input_tokens: int
    output_tokens: int
    credits: Decimal
    provider_cost_usd: Decimal
    margin_usd: Decimal  # credits × the row's pricing version's overage price − provider cost
    active_users: int


class AdminStore(Protocol):
    async def accounts(self, *, limit: int, after: tuple[datetime, UUID] | None, now: datetime) -> list[Account]:
        """Up to `limit` accounts oldest first (created_at, id), after `after`."""
        ...

    async def grant(self, user_id: UUID, grant: Grant, note: AuditNote) -> tuple[CreditTransaction, bool] | None:
        """Credit (or, negative, debit) the wallet once per (user, idempotency key), audit-logged in the
        same transaction: (the transaction, True) when it was written, (the first one, False) on a
        repeat, None when there is no such user."""
        ...

    async def set_cap(self, user_id: UUID, monthly_cap: Decimal | None, note: AuditNote) -> Account | None: ...

    async def set_suspended(self, user_id: UUID, suspended: bool, note: AuditNote) -> Account | None: ...

    async def promote(self, user: User, key_hash: bytes, starting_credits: Decimal, note: AuditNote) -> bool:
        """Make the user with `user.email` an admin with a new API key (`key_hash`), creating `user`
        (with its wallet and starting grant) when there is none, audit-logged; True when created."""
        ...

    async def usage(self, start: date, end: date, group_by: AdminGroupBy) -> list[AdminUsage]:
        """Every user's ledger rows dated start ≤ day ≤ end (UTC), grouped."""
        ...

    def ledger_rows(self, start: date, end: date) -> AsyncIterator[LedgerEntry]:
        """Every ledger row dated start ≤ day ≤ end (UTC) oldest first, read as it is consumed."""
        ...

    async def audit_log(self, *, limit: int, before: tuple[datetime, UUID] | None) -> list[AuditEntry]:
        """Newest first (created_at, id), older than `before`."""
        ...
