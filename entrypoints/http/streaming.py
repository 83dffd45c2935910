"""Server-Sent Events for turns: live from the process running the turn, or replayed from the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.errors import StoreUnavailable, TurnUnavailable
from application.ports.events import TERMINAL, TurnEvent
from application.use_cases.send_message import SendMessage, SentTurn
from application.use_cases.turn_events import ReadTurnEvents
from domain.errors import NotFound

T = TypeVar("T")
POLL_S = 0.1  # how often a replaying stream looks for new events of a running turn
_encoder = msgspec.json.Encoder()


def message(event: TurnEvent) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=_encoder.encode(event.data).decode(), event=event.type, id=event.seq)


def wants_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def live(queue: asyncio.Queue[TurnEvent | None]) -> ServerSentEvent:
    """Events as the turn running in this process produces them; None in the queue ends the stream."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        while (event := await queue.get()) is not None:
            yield message(event)
            if event.type in TERMINAL:
                return

    return ServerSentEvent(events(), status_code=200)


def replay(
    reader: ReadTurnEvents, user_id: UUID, turn_id: UUID, after_seq: int, first: list[TurnEvent]
) -> ServerSentEvent:
    """Stored events after `after_seq`, then new ones as any process stores them, up to the terminal one."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        batch, last = first, after_seq
        while True:
            for event in batch:
                yield message(event)
                last = event.seq
                if event.type in TERMINAL:
                    return
            if not batch:
                await asyncio.sleep(POLL_S)
            try:
                batch = await reader.after(user_id, turn_id, last)
            except NotFound:  # the room was deleted meanwhile: the stream just ends
                return

    return ServerSentEvent(events(), status_code=200)


_detached: set[asyncio.Future[Any]] = set()


def detached(work: Awaitable[T]) -> asyncio.Future[T]:
    """Run `work` on its own: a client that hangs up stops waiting or reading, never the turn (nor its
    billing) half-way. The set keeps a reference until it is done."""
    task = asyncio.ensure_future(work)
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


PAUSE_GRACE_S = 2.0  # a turn that waits for the database this long is answered 503 (it goes on)


async def answer_turn(
    send: SendMessage, user_id: UUID, session_id: UUID, message_text: str, idempotency_key: str | None
) -> SentTurn:
    """POST …/turns answered when the turn has finished; 503 naming the turn when the database failed
    under it (the turn waits for the database and finishes without this client)."""
    started = await send.start(user_id, session_id, message_text, idempotency_key)
    if started.replay is not None:
        return SentTurn(started.replay, replayed=True)
    context = started.context
    assert context is not None
    paused = asyncio.Event()
    task = detached(send.run(context, on_pause=paused.set))
    pause = asyncio.ensure_future(paused.wait())
    try:
        await asyncio.wait({task, pause}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            await asyncio.wait({task}, timeout=PAUSE_GRACE_S)
    finally:
        pause.cancel()
    if task.done() and not isinstance(task.exception(), StoreUnavailable):
        return SentTurn(task.result(), replayed=False)
    raise TurnUnavailable(
        "The database became unavailable during this turn; the turn goes on when it is back. "
        "Fetch it by id, or repeat the request with the same Idempotency-Key.",
        turn_id=context.turn_id,
        started=True,
    )


async def stream_turn(
    send: SendMessage,
    reader: ReadTurnEvents,
    user_id: UUID,
    session_id: UUID,
    message_text: str,
    idempotency_key: str | None,
) -> ServerSentEvent:
    """POST …/turns with `Accept: text/event-stream`: refusals stay plain 4xx answers, then the turn streams."""
    started = await send.start(user_id, session_id, message_text, idempotency_key)
    if started.replay is not None:  # an Idempotency-Key replay: the original turn's stored events
        first = await reader.after(user_id, started.replay.id, 0)
        return replay(reader, user_id, started.replay.id, 0, first)
    assert started.context is not None
    queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
    task = detached(send.run(started.context, listener=queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    return live(queue)
