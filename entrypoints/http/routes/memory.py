"""Session memory: a session's newest summary, and the context audit of a turn's calls."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.use_cases import memory as uc
from domain.model import User
from entrypoints.http.deps import parse_id
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import ContextAuditList, SummaryOut

Caller = NamedDependency[SkipValidation[User]]


@get("/sessions/{session_id:str}/summary", tags=["sessions"], responses=error_specs(401, 404))
async def get_summary(
    user: Caller, session_id: str, get_summary: NamedDependency[SkipValidation[uc.GetSummary]]
) -> SummaryOut:
    """The session's newest summary (404 `not_found` before its first)."""
    return SummaryOut.of(await get_summary.execute(user.id, parse_id(session_id)))


@get("/sessions/{session_id:str}/turns/{turn_id:str}/context", tags=["turns"], responses=error_specs(401, 404))
async def get_turn_context(
    user: Caller,
    session_id: str,
    turn_id: str,
    get_turn_context: NamedDependency[SkipValidation[uc.GetTurnContext]],
) -> ContextAuditList:
    """For each call of the turn (its summary call first, `step_index` null): what the model's window
    allowed, the prompt's estimate before and after summarising and pruning, and what fired."""
    audits = await get_turn_context.execute(user.id, parse_id(session_id), parse_id(turn_id))
    return ContextAuditList(items=audits)
