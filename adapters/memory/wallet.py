"""The in-process wallet: the same rules as adapters/postgres/wallet.py on the shared MemoryDatabase
(the shared port suite runs both). Single-threaded asyncio makes each method atomic, as the row lock
makes each SQL transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import msgspec

from application.ports.admin import Account, AdminGroupBy, AdminUsage, AuditEntry, AuditNote, Grant
from application.ports.turns import LedgerEntry
from application.ports.wallet import STARTING_GRANT_KEY, CreditTransaction, Reservation, TransactionKind, TurnGate
from domain.errors import insufficient_credits, too_many_running
from domain.model import User
from domain.turns import TurnStatus
from domain.wallet import ZERO, Credits, month_of

if TYPE_CHECKING:
    from adapters.memory.stores import MemoryDatabase

# The overage price of the seeded pricing version (the fake keeps one; the SQL joins each row's version).
OVERAGE_USD_PER_CREDIT = Decimal("0.03")


@dataclass
class WalletRow:
    balance: Decimal = ZERO
    reserved: Decimal = ZERO
    monthly_cap: Decimal | None = None
    month: date = date(1970, 1, 1)
    month_spent: Decimal = ZERO

    def credits(self, now: datetime) -> Credits:
        spent = self.month_spent if self.month == month_of(now) else ZERO
        return Credits(
            balance=self.balance, reserved=self.reserved, monthly_cap=self.monthly_cap, spent_this_month=spent
        )


@dataclass
class HeldCall:
    reservation: Reservation  # a turn's opening hold: call_id = turn_id, step_index None


@dataclass
class MemoryWallets:
    """The wallet tables of a MemoryDatabase."""

    rows: dict[UUID, WalletRow] = field(default_factory=dict)
    transactions: list[tuple[UUID, str | None, CreditTransaction]] = field(default_factory=list)  # user, key, tx
    held: dict[UUID, HeldCall] = field(default_factory=dict)  # by call_id (a turn's opening hold: turn_id)

    def open(self, user_id: UUID, at: datetime) -> None:
        self.rows.setdefault(user_id, WalletRow(month=month_of(at)))

    def open_with_grant(self, user_id: UUID, at: datetime, starting_credits: Decimal) -> None:
        """A new user's wallet and its starting grant (none when the grant is 0)."""
        self.open(user_id, at)
        if starting_credits > 0:
            self.grant(user_id, "grant", starting_credits, "starting grant", "system", STARTING_GRANT_KEY, at, user_id)

    def grant(
        self,
        user_id: UUID,
        kind: TransactionKind,
        amount: Decimal,
        reason: str,
        actor: str | None,
        key: str | None,
        at: datetime,
        tx_id: UUID,
    ) -> tuple[CreditTransaction, bool]:
        if amount == 0:
            raise ValueError("a transaction moves credits")  # the table's CHECK (amount <> 0)
        for owner, known_key, tx in self.transactions:
            if key is not None and owner == user_id and known_key == key:
                return tx, False
        tx = CreditTransaction(
            id=tx_id, kind=kind, amount=amount, reason=reason, llm_call_event_id=None, actor=actor, created_at=at
        )
        self.transactions.append((user_id, key, tx))
        self.rows[user_id].balance += amount
        return tx, True

    def pass_gate(self, user_id: UUID, turn_id: UUID, gate: TurnGate, running: int, at: datetime) -> None:
        row = self.rows.get(user_id, WalletRow())
        if gate.hold is not None and row.credits(at).available < gate.hold:
            raise insufficient_credits(gate.hold)
        if running >= gate.max_running:
            raise too_many_running(gate.max_running)
        if gate.hold is None:
            return
        self.held[turn_id] = HeldCall(
            Reservation(call_id=turn_id, user_id=user_id, turn_id=turn_id, step_index=None, amount=gate.hold, at=at)
        )
        row.reserved += gate.hold

    def settle(
        self,
        turn_id: UUID,
        scope: Literal["step", "summary", "turn"],
        ledger: list[LedgerEntry],
        at: datetime,
        user_id: UUID,
        step_index: int | None = None,
    ) -> None:
        """As SETTLE_CTES: release what `scope` covers, debit the rows that burned credits."""

        def covered(call_id: UUID, held: Reservation) -> bool:
            if held.turn_id != turn_id:
                return False
            if scope == "turn":
                return True
            if scope == "summary":
                return held.step_index is None and call_id != turn_id
            return held.step_index == step_index or call_id == turn_id

        released = [c for c, h in self.held.items() if covered(c, h.reservation)]
        row = self.rows[user_id]
        for call_id in released:
            row.reserved -= self.held.pop(call_id).reservation.amount
        debited = ZERO
        for entry in ledger:
            if entry.credits_burned > 0:
                debited += entry.credits_burned
                tx = CreditTransaction(
                    id=uuid.uuid4(),
                    kind="debit",
                    amount=-entry.credits_burned,
                    reason=f"{entry.purpose} call",
                    llm_call_event_id=entry.id,
                    actor=None,
                    created_at=at,
                )
                self.transactions.append((user_id, None, tx))
        month = month_of(at)
        row.balance -= debited
        if row.month == month:
            row.month_spent += debited
        elif row.month < month:
            row.month, row.month_spent = month, debited


class MemoryWalletStore:
    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db

    async def credits_of(self, user_id: UUID, now: datetime) -> Credits:
        row = self._db.wallets.rows.get(user_id)
        return (row or WalletRow()).credits(now)

    async def transactions_of(
        self, user_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None
    ) -> list[CreditTransaction]:
        mine = [tx for owner, _, tx in self._db.wallets.transactions if owner == user_id]
        mine = [tx for tx in mine if before is None or (tx.created_at, tx.id) < before]
        return sorted(mine, key=lambda tx: (tx.created_at, tx.id), reverse=True)[:limit]

    async def reserve(self, reservation: Reservation) -> bool:
        wallets = self._db.wallets
        if reservation.call_id in wallets.held:
            return True
        row = wallets.rows.get(reservation.user_id)
        if row is None:
            return False
        if row.credits(reservation.at).available < reservation.amount:
            return False
        row.reserved += reservation.amount
        wallets.held[reservation.call_id] = HeldCall(reservation)
        return True

    async def sweep(self, heartbeat_before: datetime) -> int:
        wallets, released = self._db.wallets, 0
        for call_id, held in list(wallets.held.items()):
            turn = self._db.turns.get(held.reservation.turn_id)
            if turn is not None and turn.status is TurnStatus.RUNNING and turn.heartbeat_at >= heartbeat_before:
                continue
            del wallets.held[call_id]
            wallets.rows[held.reservation.user_id].reserved -= held.reservation.amount
            released += 1
        return released


class MemoryAdminStore:
    """The operator's port on the MemoryDatabase (the shared suite runs it beside PostgresAdminStore)."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self.audit: list[AuditEntry] = []

    def _account(self, user_id: UUID, now: datetime) -> Account | None:
        user = self._db.users.get(user_id)
        if user is None:
            return None
        return Account(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            suspended=user.suspended,
            credits=self._db.wallets.rows[user_id].credits(now),
            created_at=user.created_at,
        )

    def _snapshot(self, user_id: UUID) -> dict[str, Any]:
        user, row = self._db.users[user_id], self._db.wallets.rows[user_id]
        cap = None if row.monthly_cap is None else str(row.monthly_cap.quantize(ZERO))
        return {
            "role": user.role,
            "suspended": user.suspended,
            "monthly_cap": cap,
            "balance": str(row.balance.quantize(ZERO)),  # as NUMERIC(20,4)::text
        }

    def _log(self, user_id: UUID, note: AuditNote, before: dict[str, Any] | None) -> None:
        self.audit.append(
            AuditEntry(
                id=note.id,
                actor_id=note.actor_id,
                action=note.action,
                target_user_id=user_id,
                before=before,
                after=self._snapshot(user_id),
                created_at=note.at,
            )
        )

    async def accounts(self, *, limit: int, after: tuple[datetime, UUID] | None, now: datetime) -> list[Account]:
        users = sorted(self._db.users.values(), key=lambda u: (u.created_at, u.id))
        users = [u for u in users if after is None or (u.created_at, u.id) > after]
        return [a for u in users[:limit] if (a := self._account(u.id, now)) is not None]

    async def grant(self, user_id: UUID, grant: Grant, note: AuditNote) -> tuple[CreditTransaction, bool] | None:
        if user_id not in self._db.users:
            return None
        before = self._snapshot(user_id)
        kind: TransactionKind = "grant" if grant.amount > 0 else "adjustment"
        tx, created = self._db.wallets.grant(
            user_id, kind, grant.amount, grant.reason, grant.actor, grant.idempotency_key, note.at, grant.id
        )
        if created:
            self._log(user_id, note, before)
        return tx, created

    async def set_cap(self, user_id: UUID, monthly_cap: Decimal | None, note: AuditNote) -> Account | None:
        if user_id not in self._db.users:
            return None
        before = self._snapshot(user_id)
        self._db.wallets.rows[user_id].monthly_cap = monthly_cap
        self._log(user_id, note, before)
        return self._account(user_id, note.at)

    async def set_suspended(self, user_id: UUID, suspended: bool, note: AuditNote) -> Account | None:
        user = self._db.users.get(user_id)
        if user is None:
            return None
        before = self._snapshot(user_id)
        self._db.users[user_id] = msgspec.structs.replace(user, suspended=suspended)
        self._log(user_id, note, before)
        return self._account(user_id, note.at)

    async def promote(self, user: User, key_hash: bytes, starting_credits: Decimal, note: AuditNote) -> bool:
        found = next((u for u in self._db.users.values() if u.email.lower() == user.email.lower()), None)
        before = None
        if found is None:
            self._db.users[user.id] = msgspec.structs.replace(user, role="user")
            self._db.wallets.open_with_grant(user.id, user.created_at, starting_credits)
            found = self._db.users[user.id]
        else:
            before = self._snapshot(found.id)
        self._db.users[found.id] = msgspec.structs.replace(found, role="admin")
        self._db.keys[key_hash] = found.id
        self._log(found.id, note, before)
        return before is None

    async def usage(self, start: date, end: date, group_by: AdminGroupBy) -> list[AdminUsage]:
        groups: dict[str, list[LedgerEntry]] = {}
        for entry in self._in_range(start, end):
            key = {
                "user": str(entry.user_id),
                "model": entry.model_alias,
                "day": entry.created_at.astimezone(UTC).date().isoformat(),
            }[group_by]
            groups.setdefault(key, []).append(entry)
        return [
            AdminUsage(
                key=key,
                llm_calls=len(rows),
                input_tokens=sum(e.input_tokens_fresh + e.input_tokens_cached for e in rows),
                output_tokens=sum(e.output_tokens for e in rows),
                credits=sum((e.credits_burned for e in rows), start=ZERO),
                provider_cost_usd=sum((e.provider_cost_usd for e in rows), start=Decimal("0")),
                margin_usd=sum(
                    (e.credits_burned * OVERAGE_USD_PER_CREDIT - e.provider_cost_usd for e in rows), start=Decimal("0")
                ).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP),
                active_users=len({e.user_id for e in rows}),
            )
            for key, rows in sorted(groups.items())
        ]

    async def ledger_rows(self, start: date, end: date) -> AsyncIterator[LedgerEntry]:
        for entry in self._in_range(start, end):
            yield entry

    async def audit_log(self, *, limit: int, before: tuple[datetime, UUID] | None) -> list[AuditEntry]:
        entries = sorted(self.audit, key=lambda e: (e.created_at, e.id), reverse=True)
        return [e for e in entries if before is None or (e.created_at, e.id) < before][:limit]

    def _in_range(self, start: date, end: date) -> list[LedgerEntry]:
        rows = [e for e in self._db.ledger if start <= e.created_at.astimezone(UTC).date() <= end]
        return sorted(rows, key=lambda e: (e.created_at, e.id))
