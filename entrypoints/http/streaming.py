"""Turns over HTTP: answered when finished, streamed live as Server-Sent Events from the process running
them, or replayed from the database by any process.

Every stream ends: after the turn's terminal event; at once when it starts after that event; when the
turn's room is deleted; and, as a last resort, after `max_s` (a bound no turn comes near), with a
final `stream_closed` event telling the client to reconnect with `Last-Event-ID` if it still cares.
While nothing happens a comment line goes out every KEEPALIVE_S, so proxies keep the connection and a
client that went away is noticed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.errors import StoreUnavailable, TurnUnavailable
from application.ports.events import TERMINAL, EventPage, TurnEvent
from application.ports.turns import TurnContext
from application.use_cases.send_message import SendMessage, SentTurn, StartedTurn
from application.use_cases.turn_events import ReadTurnEvents
from domain.errors import NotFound

T = TypeVar("T")
POLL_S = 0.1  # how often a replaying stream looks for new events of a running turn
OUTAGE_POLL_S = 1.0  # … and while the database is unavailable (the turn waits for it too)
KEEPALIVE_S = 15.0
PAUSE_GRACE_S = 2.0  # a turn that waits for the database this long is answered 503 (it goes on)
_encoder = msgspec.json.Encoder()


def message(event: TurnEvent) -> ServerSentEventMessage:
    return ServerSentEventMessage(data=_encoder.encode(event.data).decode(), event=event.type, id=event.seq)


def closed(turn_id: UUID, last_seq: int, max_s: float) -> ServerSentEventMessage:
    """The stream's own last word (no `id:`: it is not an event of the turn)."""
    data = {
        "turn_id": str(turn_id),
        "seq": last_seq,
        "reason": "max_duration",
        "detail": f"Streams close after {max_s:g} s; reconnect with Last-Event-ID: {last_seq} to go on.",
    }
    return ServerSentEventMessage(data=_encoder.encode(data).decode(), event="stream_closed")


KEEPALIVE = ServerSentEventMessage(comment="keep-alive")
NOT_STORED = {"Cache-Control": "no-store"}  # like every answer (a stream is per user, too)


def wants_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def live(queue: asyncio.Queue[TurnEvent | None], turn_id: UUID, max_s: float) -> ServerSentEvent:
    """Events as the turn running in this process produces them; None in the queue ends the stream."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        deadline, last = time.monotonic() + max_s, 0
        while (wait := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(queue.get(), min(KEEPALIVE_S, wait))
            except TimeoutError:
                yield KEEPALIVE
                continue
            if event is None:
                return
            yield message(event)
            last = event.seq
            if event.type in TERMINAL:
                return
        yield closed(turn_id, last, max_s)

    return ServerSentEvent(events(), status_code=200, headers=NOT_STORED)


def replay(
    reader: ReadTurnEvents, user_id: UUID, turn_id: UUID, after_seq: int, first: EventPage, max_s: float
) -> ServerSentEvent:
    """Stored events after `after_seq`, then new ones as any process stores them, up to the terminal one."""

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        page, last = first, after_seq
        started = quiet_since = time.monotonic()
        while True:
            for event in page.events:
                yield message(event)
                last = event.seq
                if event.type in TERMINAL:
                    return
            now = time.monotonic()
            if page.events:
                quiet_since = now
            elif not page.running:
                return  # finished, and nothing comes after `last`
            if now - started >= max_s:
                yield closed(turn_id, last, max_s)
                return
            if now - quiet_since >= KEEPALIVE_S:
                yield KEEPALIVE
                quiet_since = now
            await asyncio.sleep(POLL_S)
            try:
                page = await reader.after(user_id, turn_id, last)
            except NotFound:  # the room was deleted meanwhile: the stream just ends
                return
            except StoreUnavailable:
                page = EventPage(events=[], running=True)
                await asyncio.sleep(OUTAGE_POLL_S)

    return ServerSentEvent(events(), status_code=200, headers=NOT_STORED)


_detached: set[asyncio.Future[Any]] = set()


def detached(work: Awaitable[T]) -> asyncio.Future[T]:
    """Run `work` on its own: a client that hangs up stops waiting or reading, never the turn (nor its
    billing) half-way. The set keeps a reference until it is done."""
    task = asyncio.ensure_future(work)
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


async def answer_turn(
    send: SendMessage, user_id: UUID, session_id: UUID, message_text: str, idempotency_key: str | None
) -> SentTurn:
    """POST …/turns answered when the turn has finished; 503 naming the turn when the database failed
    under it (the turn waits for the database and finishes without this client)."""
    return await answer_started(send, await send.start(user_id, session_id, message_text, idempotency_key))


async def answer_started(send: SendMessage, started: StartedTurn) -> SentTurn:
    """A started turn (or its Idempotency-Key replay) answered when it has finished; see `answer_turn`."""
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
    max_s: float,
) -> ServerSentEvent:
    """POST …/turns with `Accept: text/event-stream`: refusals stay plain 4xx answers, then the turn streams."""
    started = await send.start(user_id, session_id, message_text, idempotency_key)
    if started.replay is not None:  # an Idempotency-Key replay: the original turn's stored events
        first = await reader.after(user_id, started.replay.id, 0)
        return replay(reader, user_id, started.replay.id, 0, first, max_s)
    assert started.context is not None
    return live(run_streamed(send, started.context), started.context.turn_id, max_s)


def run_streamed(send: SendMessage, context: TurnContext) -> asyncio.Queue[TurnEvent | None]:
    """Run the turn on its own (see `detached`); its events reach the queue as they are stored, then None."""
    queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
    task = detached(send.run(context, listener=queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    return queue
