"""`/v1/models` and `/v1/chat/completions`: thin handlers over the native use cases — the session is
found by StartConversationTurn, the turn runs exactly as POST …/turns runs it (streaming.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from litestar import Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter, SkipValidation
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.paging import MAX_LIMIT
from application.ports.events import TERMINAL, TurnEvent
from application.use_cases import rooms
from application.use_cases.converse import ConversationTurn, StartConversationTurn
from application.use_cases.send_message import SendMessage
from application.use_cases.turn_events import ReadTurnEvents
from domain.model import User
from entrypoints.http.deps import authenticated, parse_id
from entrypoints.http.openai_compat.answer import chunks, completion
from entrypoints.http.openai_compat.errors import OPENAI_EXCEPTION_HANDLERS, openai_error_specs
from entrypoints.http.openai_compat.wire import (
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    conversation_of,
    model_card,
    room_id_of,
)
from entrypoints.http.streaming import KEEPALIVE, KEEPALIVE_S, NOT_STORED, answer_started, run_streamed
from entrypoints.settings import Settings

Caller = NamedDependency[SkipValidation[User]]
SessionHeader = Annotated[str | None, Parameter(header="X-Pantheon-Session", required=False)]
IdempotencyKey = Annotated[str | None, Parameter(header="Idempotency-Key", required=False)]


@get("/models", tags=["openai"], responses=openai_error_specs(401))
async def list_models(user: Caller, list_rooms: NamedDependency[SkipValidation[rooms.ListRooms]]) -> ModelList:
    """The caller's rooms, each as a model named `room-<room_id>`."""
    cards, cursor = [], None
    while True:
        found, cursor = await list_rooms.execute(user.id, limit=MAX_LIMIT, cursor=cursor)
        cards += [model_card(room) for room in found]
        if cursor is None:
            return ModelList(data=cards)


@get("/models/{model:str}", tags=["openai"], responses=openai_error_specs(401, 404))
async def get_model(user: Caller, model: str, get_room: NamedDependency[SkipValidation[rooms.GetRoom]]) -> ModelCard:
    return model_card(await get_room.execute(user.id, room_id_of(model)))


@post(
    "/chat/completions",
    tags=["openai"],
    status_code=200,
    responses=openai_error_specs(400, 401, 404, 409, 413, 415, 422),
)
async def chat_completions(
    user: Caller,
    data: ChatCompletionRequest,
    start_conversation_turn: NamedDependency[SkipValidation[StartConversationTurn]],
    send_message: NamedDependency[SkipValidation[SendMessage]],
    read_turn_events: NamedDependency[SkipValidation[ReadTurnEvents]],
    settings: NamedDependency[SkipValidation[Settings]],
    x_pantheon_session: SessionHeader = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[ChatCompletion]:
    """The last user message runs as a turn of the room `model` names, in the session the conversation
    continues (see application/use_cases/converse.py); the answer holds every step of the turn."""
    earlier, message = conversation_of(data.messages)
    begun = await start_conversation_turn.execute(
        user.id,
        room_id_of(data.model),
        earlier=earlier,
        message=message,
        session_id=parse_id(x_pantheon_session) if x_pantheon_session is not None else None,
        idempotency_key=idempotency_key,
    )
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        return streamed(begun, data.model, include_usage, send_message, read_turn_events, user, settings)  # type: ignore[return-value]
    sent = await answer_started(send_message, begun.started)
    return Response(completion(sent.turn, data.model), headers=pantheon_headers(begun, sent.turn.id))


def pantheon_headers(begun: ConversationTurn, turn_id: UUID) -> dict[str, str]:
    return {"X-Pantheon-Session": str(begun.session_id), "X-Pantheon-Turn": str(turn_id)}


def streamed(
    begun: ConversationTurn,
    model: str,
    include_usage: bool,
    send: SendMessage,
    reader: ReadTurnEvents,
    user: User,
    settings: Settings,
) -> ServerSentEvent:
    started = begun.started
    if started.replay is not None:  # an Idempotency-Key replay: the original turn's stored events
        turn_id, created = started.replay.id, started.replay.created_at
        events = stored_events(reader, user, turn_id)
    else:
        assert started.context is not None
        turn_id, created = started.context.turn_id, started.context.created_at
        events = live_events(run_streamed(send, started.context), settings.stream_max_s)
    payloads = chunks(events, turn_id, int(created.timestamp()), model, include_usage)

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        async for payload in payloads:
            yield KEEPALIVE if payload is None else ServerSentEventMessage(data=payload)

    return ServerSentEvent(messages(), status_code=200, headers={**NOT_STORED, **pantheon_headers(begun, turn_id)})


async def live_events(queue: asyncio.Queue[TurnEvent | None], max_s: float) -> AsyncIterator[TurnEvent | None]:
    """The events of the turn running here, None for a quiet KEEPALIVE_S; ends at the terminal one."""
    deadline = time.monotonic() + max_s
    while (wait := deadline - time.monotonic()) > 0:
        try:
            event = await asyncio.wait_for(queue.get(), min(KEEPALIVE_S, wait))
        except TimeoutError:
            yield None
            continue
        if event is None:
            return
        yield event
        if event.type in TERMINAL:
            return


async def stored_events(reader: ReadTurnEvents, user: User, turn_id: UUID) -> AsyncIterator[TurnEvent | None]:
    """The stored events of a finished turn."""
    last = 0
    while True:
        page = await reader.after(user.id, turn_id, last)
        for event in page.events:
            yield event
            last = event.seq
        if not page.events:
            return


def openai_router() -> Router:
    """The /v1 routes, with the same API keys as /api/v1 and errors in OpenAI's shape."""
    return Router(
        path="/v1",
        route_handlers=[list_models, get_model, chat_completions],
        security=[{"bearer": []}],
        guards=[authenticated],
        exception_handlers=OPENAI_EXCEPTION_HANDLERS,  # type: ignore[arg-type]
    )
