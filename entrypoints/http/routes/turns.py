from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter, SkipValidation
from litestar.response import ServerSentEvent

from application.feeds import TurnFeeds
from application.paging import DEFAULT_LIMIT
from application.use_cases import turns as uc
from application.use_cases.send_message import SendMessage
from application.use_cases.stop_turn import StopTurn
from application.use_cases.turn_events import ReadTurnEvents
from domain.errors import ValidationFailed
from domain.model import User
from domain.turns import Turn
from entrypoints.http.deps import parse_id
from entrypoints.http.errors import error_specs
from entrypoints.http.responses import JsonResponse
from entrypoints.http.schemas import SendMessageBody, StopBody, TurnList
from entrypoints.http.streaming import answer_turn, replay, stream_turn, wants_stream
from entrypoints.settings import Settings

Caller = NamedDependency[SkipValidation[User]]
IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]
LastEventId = Annotated[str | None, Parameter(header="Last-Event-ID", required=False)]


@post(
    "/sessions/{session_id:str}/turns",
    tags=["turns"],
    status_code=201,
    responses=error_specs(400, 401, 402, 404, 409, 413, 415, 422),
)
async def send_message(
    request: Request[Any, Any, Any],
    user: Caller,
    session_id: str,
    data: SendMessageBody,
    send_message: NamedDependency[SkipValidation[SendMessage]],
    read_turn_events: NamedDependency[SkipValidation[ReadTurnEvents]],
    turn_feeds: NamedDependency[SkipValidation[TurnFeeds]],
    settings: NamedDependency[SkipValidation[Settings]],
    idempotency_key: IdempotencyKey = None,
) -> Response[Turn]:
    if wants_stream(request.headers.get("accept")):
        return await stream_turn(  # type: ignore[return-value]
            send_message,
            read_turn_events,
            turn_feeds,
            user.id,
            parse_id(session_id),
            data.message,
            idempotency_key,
            settings.stream_max_s,
        )
    sent = await answer_turn(send_message, turn_feeds, user.id, parse_id(session_id), data.message, idempotency_key)
    return JsonResponse(sent.turn, status_code=200 if sent.replayed else 201)


@get("/sessions/{session_id:str}/turns", tags=["turns"], responses=error_specs(401, 404, 422))
async def list_turns(
    user: Caller,
    session_id: str,
    list_turns: NamedDependency[SkipValidation[uc.ListTurns]],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    order: Literal["asc", "desc"] = "asc",
) -> TurnList:
    """Oldest first; `order=desc`: newest first, the next pages reaching further back."""
    found, next_cursor = await list_turns.execute(
        user.id, parse_id(session_id), limit=limit, cursor=cursor, newest_first=order == "desc"
    )
    return TurnList(items=found, next_cursor=next_cursor)


@get("/sessions/{session_id:str}/turns/{turn_id:str}", tags=["turns"], responses=error_specs(401, 404))
async def get_turn(
    user: Caller, session_id: str, turn_id: str, get_turn: NamedDependency[SkipValidation[uc.GetTurn]]
) -> Turn:
    return await get_turn.execute(user.id, parse_id(session_id), parse_id(turn_id))


@post(
    "/sessions/{session_id:str}/turns/{turn_id:str}/stop",
    tags=["turns"],
    status_code=202,
    responses=error_specs(400, 401, 404, 409, 413, 415, 422),
)
async def stop_turn(
    user: Caller, session_id: str, turn_id: str, data: StopBody, stop_turn: NamedDependency[SkipValidation[StopTurn]]
) -> Turn:
    """Stop a running turn (`after_step` or `now`); the turn as it stands. The turn's own request and
    stream carry on to its end, which comes within a second."""
    return await stop_turn.execute(user.id, parse_id(session_id), parse_id(turn_id), data.mode)


@get(
    "/sessions/{session_id:str}/turns/{turn_id:str}/events",
    tags=["turns"],
    responses=error_specs(401, 404, 422),
    media_type="text/event-stream",
)
async def turn_events(
    user: Caller,
    session_id: str,
    turn_id: str,
    read_turn_events: NamedDependency[SkipValidation[ReadTurnEvents]],
    turn_feeds: NamedDependency[SkipValidation[TurnFeeds]],
    settings: NamedDependency[SkipValidation[Settings]],
    last_event_id: LastEventId = None,
) -> ServerSentEvent:
    """The turn's events from the beginning (or after `Last-Event-ID`), live until its terminal event."""
    after = parse_last_event_id(last_event_id)
    sid, tid = parse_id(session_id), parse_id(turn_id)
    await read_turn_events.check(user.id, sid, tid)
    first = await read_turn_events.after(user.id, tid, after)
    return replay(read_turn_events, turn_feeds, user.id, tid, after, first, settings.stream_max_s)


def parse_last_event_id(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return 0
    if not raw.strip().isdigit():
        raise ValidationFailed("Last-Event-ID must be the id (a number) of an event of this turn.")
    return int(raw.strip())
