"""The operator's routes under /api/v1/admin; the use cases refuse non-admins (403)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Literal

import msgspec
from litestar import Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import Parameter, SkipValidation
from litestar.response import Stream

from application.paging import DEFAULT_LIMIT
from application.ports.turns import LedgerEntry
from application.ports.wallet import CreditTransaction
from application.use_cases import admin as uc
from domain.errors import ValidationFailed
from domain.model import User
from entrypoints.http.admin_schemas import AccountOut, Accounts, AdminUsageOut, AuditOut, CapBody, GrantBody
from entrypoints.http.deps import parse_id
from entrypoints.http.errors import error_specs

Caller = NamedDependency[SkipValidation[User]]
From = Annotated[str | None, Parameter(query="from", required=False)]
CSV_COLUMNS = list(LedgerEntry.__struct_fields__)


def _day(name: str, raw: str | None) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD (UTC).", extra=[{"key": name}]) from None


@get("/admin/users", tags=["admin"], responses=error_specs(401, 422))
async def admin_users(
    user: Caller,
    list_accounts: NamedDependency[SkipValidation[uc.ListAccounts]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Accounts:
    items, next_cursor = await list_accounts.execute(user, limit=limit, cursor=cursor)
    return Accounts(items=[AccountOut.of(a) for a in items], next_cursor=next_cursor)


@post(
    "/admin/users/{user_id:str}/grants",
    tags=["admin"],
    status_code=201,
    responses=error_specs(400, 401, 404, 413, 415, 422),
)
async def admin_grant(
    user: Caller, user_id: str, data: GrantBody, grant_credits: NamedDependency[SkipValidation[uc.GrantCredits]]
) -> Response[CreditTransaction]:
    tx, created = await grant_credits.execute(user, parse_id(user_id), data.amount, data.reason, data.idempotency_key)
    return Response(tx, status_code=201 if created else 200)


@put("/admin/users/{user_id:str}/cap", tags=["admin"], responses=error_specs(400, 401, 404, 413, 415, 422))
async def admin_cap(
    user: Caller, user_id: str, data: CapBody, set_cap: NamedDependency[SkipValidation[uc.SetCap]]
) -> AccountOut:
    return AccountOut.of(await set_cap.execute(user, parse_id(user_id), data.monthly_credits))


@post("/admin/users/{user_id:str}/suspend", tags=["admin"], status_code=200, responses=error_specs(401, 404))
async def admin_suspend(
    user: Caller, user_id: str, suspend_user: NamedDependency[SkipValidation[uc.Suspend]]
) -> AccountOut:
    return AccountOut.of(await suspend_user.execute(user, parse_id(user_id), suspended=True))


@post("/admin/users/{user_id:str}/reactivate", tags=["admin"], status_code=200, responses=error_specs(401, 404))
async def admin_reactivate(
    user: Caller, user_id: str, suspend_user: NamedDependency[SkipValidation[uc.Suspend]]
) -> AccountOut:
    return AccountOut.of(await suspend_user.execute(user, parse_id(user_id), suspended=False))


@get("/admin/usage", tags=["admin"], responses=error_specs(400, 401, 422))
async def admin_usage(
    user: Caller,
    usage_report: NamedDependency[SkipValidation[uc.UsageReport]],
    from_: From = None,
    to: str | None = None,
    group_by: Literal["user", "model", "day"] = "user",
) -> AdminUsageOut:
    items = await usage_report.execute(user, _day("from", from_), _day("to", to), group_by)
    return AdminUsageOut(items=items)


@get("/admin/usage.csv", tags=["admin"], media_type="text/csv", responses=error_specs(400, 401, 422))
async def admin_usage_csv(
    user: Caller,
    export_ledger: NamedDependency[SkipValidation[uc.ExportLedger]],
    from_: From = None,
    to: str | None = None,
) -> Stream:
    rows = export_ledger.execute(user, _day("from", from_), _day("to", to))  # 403 here, before any byte
    return Stream(csv_lines(rows), media_type="text/csv; charset=utf-8")


@get("/admin/audit", tags=["admin"], responses=error_specs(401, 422))
async def admin_audit(
    user: Caller,
    list_audit: NamedDependency[SkipValidation[uc.ListAudit]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AuditOut:
    items, next_cursor = await list_audit.execute(user, limit=limit, cursor=cursor)
    return AuditOut(items=items, next_cursor=next_cursor)


async def csv_lines(rows: AsyncIterator[LedgerEntry]) -> AsyncIterator[bytes]:
    """A header line, then one line per ledger row as it is read; decimals as their exact strings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    async for entry in rows:
        plain = msgspec.to_builtins(entry)
        writer.writerow(["" if plain[c] is None else plain[c] for c in CSV_COLUMNS])
        if buffer.tell() >= 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


ROUTES = [
    admin_users,
    admin_grant,
    admin_cap,
    admin_suspend,
    admin_reactivate,
    admin_usage,
    admin_usage_csv,
    admin_audit,
]
