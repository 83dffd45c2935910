"""What an operator does: accounts, grants, caps, suspension, usage and its export, the audit log.
Every use case here refuses a caller who is not an admin (403), and every write is audit-logged by
the store in the write's own transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from uuid import UUID

from application.paging import check_limit, decode_cursor, page
from application.ports.admin import Account, AdminGroupBy, AdminStore, AdminUsage, AuditEntry, AuditNote, Grant
from application.ports.clock import Clock, IdGenerator
from application.ports.turns import LedgerEntry
from application.ports.users import UserStore
from application.ports.wallet import CreditTransaction
from domain.api_keys import hash_api_key, new_api_key
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.model import User
from domain.wallet import DEFAULT_STARTING_CREDITS

MAX_CREDITS = Decimal("1000000000")  # far beyond any sale; NUMERIC(20,4) holds it exactly
FOUR_PLACES = Decimal("0.0001")


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("Only an admin may do this.")


def credits_amount(raw: str, name: str, *, allow_zero: bool) -> Decimal:
    """A decimal string of at most 4 places within ±MAX_CREDITS."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValidationFailed(f"{name} must be a decimal string.", extra=[{"key": name}]) from None
    if not value.is_finite() or value != value.quantize(FOUR_PLACES) or abs(value) > MAX_CREDITS:
        raise ValidationFailed(f"{name} must have at most 4 decimal places.", extra=[{"key": name}])
    if value == 0 and not allow_zero:
        raise ValidationFailed(f"{name} must not be zero.", extra=[{"key": name}])
    return value.quantize(FOUR_PLACES)


def date_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    start, end = start or date(1970, 1, 1), end or today
    if start > end:
        raise ValidationFailed("from must not be after to.", extra=[{"key": "from"}, {"key": "to"}])
    return start, end


class ListAccounts:
    def __init__(self, admin: AdminStore, clock: Clock) -> None:
        self._admin, self._clock = admin, clock

    async def execute(self, caller: User, *, limit: int, cursor: str | None) -> tuple[list[Account], str | None]:
        require_admin(caller)
        after = decode_cursor(cursor, tuple[datetime, UUID])
        found = await self._admin.accounts(limit=check_limit(limit) + 1, after=after, now=self._clock.now())
        return page(found, limit, lambda a: (a.created_at, a.id))


class GrantCredits:
    def __init__(self, admin: AdminStore, clock: Clock, ids: IdGenerator) -> None:
        self._admin, self._clock, self._ids = admin, clock, ids

    async def execute(
        self, caller: User, user_id: UUID, amount: str, reason: str, idempotency_key: str
    ) -> tuple[CreditTransaction, bool]:
        require_admin(caller)
        grant = Grant(
            id=self._ids.new_id(),
            amount=credits_amount(amount, "amount", allow_zero=False),
            reason=reason,
            idempotency_key=idempotency_key,
            actor=str(caller.id),
        )
        note = AuditNote(id=self._ids.new_id(), actor_id=caller.id, action="grant", at=self._clock.now())
        done = await self._admin.grant(user_id, grant, note)
        if done is None:
            raise NotFound("No such user.")
        return done


class SetCap:
    def __init__(self, admin: AdminStore, clock: Clock, ids: IdGenerator) -> None:
        self._admin, self._clock, self._ids = admin, clock, ids

    async def execute(self, caller: User, user_id: UUID, monthly_credits: str | None) -> Account:
        require_admin(caller)
        cap = None if monthly_credits is None else credits_amount(monthly_credits, "monthly_credits", allow_zero=True)
        if cap is not None and cap < 0:
            raise ValidationFailed("monthly_credits must not be negative.", extra=[{"key": "monthly_credits"}])
        note = AuditNote(id=self._ids.new_id(), actor_id=caller.id, action="set_cap", at=self._clock.now())
        account = await self._admin.set_cap(user_id, cap, note)
        if account is None:
            raise NotFound("No such user.")
        return account


class Suspend:
    """Suspend (or reactivate) a user: their key answers 403 from now on (other server processes
    within the key cache's 30 s); turns already running finish."""

    def __init__(self, admin: AdminStore, users: UserStore, clock: Clock, ids: IdGenerator) -> None:
        self._admin, self._users, self._clock, self._ids = admin, users, clock, ids

    async def execute(self, caller: User, user_id: UUID, *, suspended: bool) -> Account:
        require_admin(caller)
        action = "suspend" if suspended else "reactivate"
        note = AuditNote(id=self._ids.new_id(), actor_id=caller.id, action=action, at=self._clock.now())
        account = await self._admin.set_suspended(user_id, suspended, note)
        if account is None:
            raise NotFound("No such user.")
        await self._users.forget_user(user_id)
        return account


class UsageReport:
    def __init__(self, admin: AdminStore, clock: Clock) -> None:
        self._admin, self._clock = admin, clock

    async def execute(
        self, caller: User, start: date | None, end: date | None, group_by: AdminGroupBy
    ) -> list[AdminUsage]:
        require_admin(caller)
        return await self._admin.usage(*date_range(start, end, self._clock.now().date()), group_by)


class ExportLedger:
    def __init__(self, admin: AdminStore, clock: Clock) -> None:
        self._admin, self._clock = admin, clock

    def execute(self, caller: User, start: date | None, end: date | None) -> AsyncIterator[LedgerEntry]:
        """Checked now; the rows are read while the caller consumes them."""
        require_admin(caller)
        return self._admin.ledger_rows(*date_range(start, end, self._clock.now().date()))


class ListAudit:
    def __init__(self, admin: AdminStore) -> None:
        self._admin = admin

    async def execute(self, caller: User, *, limit: int, cursor: str | None) -> tuple[list[AuditEntry], str | None]:
        require_admin(caller)
        before = decode_cursor(cursor, tuple[datetime, UUID])
        found = await self._admin.audit_log(limit=check_limit(limit) + 1, before=before)
        return page(found, limit, lambda e: (e.created_at, e.id))


class PromoteAdmin:
    """`pantheon admin create EMAIL`: that user (created if need be) becomes an admin with a new key."""

    def __init__(
        self,
        admin: AdminStore,
        clock: Clock,
        ids: IdGenerator,
        *,
        starting_credits: Decimal = DEFAULT_STARTING_CREDITS,
    ) -> None:
        self._admin, self._clock, self._ids, self._starting_credits = admin, clock, ids, starting_credits

    async def execute(self, email: str) -> tuple[str, bool]:
        email = email.strip()
        if not 3 <= len(email) <= 320 or email.count("@") != 1:
            raise ValidationFailed("EMAIL must be an e-mail address.", extra=[{"key": "email"}])
        now = self._clock.now()
        user = User(id=self._ids.new_id(), email=email, display_name=None, created_at=now, role="admin")
        key = new_api_key()
        note = AuditNote(id=self._ids.new_id(), actor_id=None, action="admin_create", at=now)
        created = await self._admin.promote(user, hash_api_key(key), self._starting_credits, note)
        return key, created
