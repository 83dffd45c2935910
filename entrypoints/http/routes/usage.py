from __future__ import annotations

from typing import Literal
from uuid import UUID

from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.use_cases import usage as uc
from domain.errors import ValidationFailed
from domain.model import User
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import UsageEvents, UsageSummaryOut

Caller = NamedDependency[SkipValidation[User]]


def _optional_id(name: str, raw: str | None) -> UUID | None:
    if raw is None or raw == "":
        return None
    try:
        return UUID(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a UUID.", extra=[{"key": name}]) from None


@get("/usage/events", tags=["usage"], responses=error_specs(400, 401, 422))
async def usage_events(
    user: Caller,
    list_usage_events: NamedDependency[SkipValidation[uc.ListUsageEvents]],
    turn_id: str | None = None,
    session_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> UsageEvents:
    page, next_cursor = await list_usage_events.execute(
        user.id,
        turn_id=_optional_id("turn_id", turn_id),
        session_id=_optional_id("session_id", session_id),
        limit=limit,
        cursor=cursor,
    )
    return UsageEvents(items=page.items, next_cursor=next_cursor)


@get("/usage/summary", tags=["usage"], responses=error_specs(400, 401, 422))
async def usage_summary(
    user: Caller,
    usage_summary: NamedDependency[SkipValidation[uc.UsageSummary]],
    group_by: Literal["model", "day", "room"] = "model",
) -> UsageSummaryOut:
    return UsageSummaryOut(items=await usage_summary.execute(user.id, group_by))
