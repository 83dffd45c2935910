"""Bodies of the wallet and admin routes (docs/http-api.md, Credits and Admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from application.ports.admin import Account, AdminUsage, AuditEntry
from application.ports.wallet import CreditTransaction
from entrypoints.http.schemas import Body, CreditsOut

DecimalString = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^-?[0-9]+(\.[0-9]+)?(?!\n)$")]
Reason = Annotated[str, Meta(min_length=1, max_length=500, pattern=r"\S")]
IdempotencyKey = Annotated[str, Meta(min_length=1, max_length=200)]


class Transactions(msgspec.Struct):
    items: list[CreditTransaction]
    next_cursor: str | None


class GrantBody(Body):
    amount: DecimalString
    reason: Reason
    idempotency_key: IdempotencyKey


class CapBody(Body):
    monthly_credits: DecimalString | None


class AccountOut(msgspec.Struct, kw_only=True):
    id: UUID
    email: str
    display_name: str | None
    role: Literal["user", "admin"]
    suspended: bool
    credits: CreditsOut
    created_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            email=account.email,
            display_name=account.display_name,
            role=account.role,
            suspended=account.suspended,
            credits=CreditsOut.of(account.credits),
            created_at=account.created_at,
        )


class Accounts(msgspec.Struct):
    items: list[AccountOut]
    next_cursor: str | None


class AdminUsageOut(msgspec.Struct):
    items: list[AdminUsage]


class AuditOut(msgspec.Struct):
    items: list[AuditEntry]
    next_cursor: str | None
