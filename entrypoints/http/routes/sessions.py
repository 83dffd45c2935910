from __future__ import annotations

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.paging import DEFAULT_LIMIT
from application.use_cases import sessions as uc
from domain.model import User
from entrypoints.http.deps import parse_id
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import CreateSessionBody, MessageList, SessionList, SessionOut

EMPTY_SESSION_BODY = CreateSessionBody()

Caller = NamedDependency[SkipValidation[User]]


@post(
    "/rooms/{room_id:str}/sessions",
    tags=["sessions"],
    status_code=201,
    responses=error_specs(400, 401, 404, 413, 415, 422),
)
async def open_session(
    user: Caller,
    room_id: str,
    open_session: NamedDependency[SkipValidation[uc.OpenSession]],
    data: CreateSessionBody = EMPTY_SESSION_BODY,  # an empty body is taken as {} (a null one is not)
) -> SessionOut:
    return SessionOut.of(await open_session.execute(user.id, parse_id(room_id)))


@get("/rooms/{room_id:str}/sessions", tags=["sessions"], responses=error_specs(401, 404, 422))
async def list_sessions(
    user: Caller,
    room_id: str,
    list_sessions: NamedDependency[SkipValidation[uc.ListSessions]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> SessionList:
    found, next_cursor = await list_sessions.execute(user.id, parse_id(room_id), limit=limit, cursor=cursor)
    return SessionList(items=[SessionOut.of(s) for s in found], next_cursor=next_cursor)


@get("/sessions/{session_id:str}", tags=["sessions"], responses=error_specs(401, 404))
async def get_session(
    user: Caller, session_id: str, get_session: NamedDependency[SkipValidation[uc.GetSession]]
) -> SessionOut:
    return SessionOut.of(await get_session.execute(user.id, parse_id(session_id)))


@get("/sessions/{session_id:str}/messages", tags=["sessions"], responses=error_specs(401, 404, 422))
async def list_messages(
    user: Caller,
    session_id: str,
    list_messages: NamedDependency[SkipValidation[uc.ListMessages]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> MessageList:
    found, next_cursor = await list_messages.execute(user.id, parse_id(session_id), limit=limit, cursor=cursor)
    return MessageList(items=found, next_cursor=next_cursor)
