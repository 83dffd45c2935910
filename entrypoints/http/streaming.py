"""Turns over HTTP: answered when finished, or streamed as Server-Sent Events by any process: a finished
turn's stored events page by page, a running turn's through this process's feed of it
(application/feeds.py: woken by the database's notices, or directly by the turn when it runs here).

Every stream ends: after the turn's terminal event; at once when it starts after that event; when the
turn's room is deleted; and, as a last resort, after `max_s` (a bound no turn comes near), with a
final `stream_closed` event telling the client to reconnect with `Last-Event-ID` if it still cares.
While nothing happens a comment line goes out every KEEPALIVE_S, so proxies keep the connection and a
client that went away is noticed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.errors import StoreUnavailable, TurnUnavailable
from application.feeds import OUTAGE_POLL_S, Follower, TurnFeeds
from application.ports.events import TERMINAL, EventPage, TurnEvent
from application.ports.turns import TurnContext
from application.use_cases.send_message import SendMessage, SentTurn, StartedTurn
from application.use_cases.turn_events import PAGE, ReadTurnEvents
from domain.errors import NotFound

T = TypeVar("T")
log = logging.getLogger(__name__)
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


def replay(
    reader: ReadTurnEvents,
    feeds: TurnFeeds,
    user_id: UUID,
    turn_id: UUID,
    after_seq: int,
    first: EventPage,
    max_s: float,
    turn_task: asyncio.Future[Any] | None = None,
) -> ServerSentEvent:
    """Stored events after `after_seq`, then new ones as any process stores them, up to the terminal one.

    A finished turn is read page by page; a running one is followed through this process's feed of it
    (application/feeds.py). `turn_task`, the turn run here for this very stream, ends the stream when
    it stops without a terminal event (it gave up waiting for the database).
    """

    async def events() -> AsyncIterator[ServerSentEventMessage]:
        started, last, page = time.monotonic(), after_seq, first
        while not page.running:
            for event in page.events:
                yield message(event)
                last = event.seq
                if event.type in TERMINAL:
                    return
            if len(page.events) < PAGE:
                return  # finished, and nothing comes after `last`
            if (found := await _page_after(reader, user_id, turn_id, last)) is None:
                return  # the room was deleted meanwhile: the stream just ends
            page = found
        with feeds.follow(user_id, turn_id, last) as follower:
            follower.on_cut = functools.partial(_cut, asyncio.current_task(), turn_id, follower)
            follower.start_with(page.events)
            if turn_task is not None:
                turn_task.add_done_callback(lambda _: follower.end("stopped"))
            while (left := max_s - (time.monotonic() - started)) > 0:
                got = await follower.next(min(KEEPALIVE_S, left))
                for event in got.events:
                    yield message(event)
                    if event.type in TERMINAL:
                        return
                if got.end is not None:
                    return
                if not got.events and max_s - (time.monotonic() - started) > 0:
                    yield KEEPALIVE
            yield closed(turn_id, follower.last, max_s)

    return ServerSentEvent(events(), status_code=200, headers=NOT_STORED)


async def _page_after(reader: ReadTurnEvents, user_id: UUID, turn_id: UUID, last: int) -> EventPage | None:
    while True:
        try:
            return await reader.after(user_id, turn_id, last)
        except NotFound:
            return None
        except StoreUnavailable:  # wait for the database, as the turn does
            await asyncio.sleep(OUTAGE_POLL_S)


def _cut(sender: asyncio.Task[Any] | None, turn_id: UUID, follower: Follower) -> None:
    """A reader fell more than the backlog bound behind: the task sending to it is stuck in a write the
    client does not read, so it is cancelled; the server closes the connection, and the client may
    reconnect with Last-Event-ID."""
    fields = {"turn_id": str(turn_id), "last_seq": follower.last}
    log.warning("event stream cut: its reader fell behind", extra={"fields": fields})
    if sender is not None:
        sender.cancel()


_detached: set[asyncio.Future[Any]] = set()


def detached(work: Awaitable[T]) -> asyncio.Future[T]:
    """Run `work` on its own: a client that hangs up stops waiting or reading, never the turn (nor its
    billing) half-way. The set keeps a reference until it is done."""
    task = asyncio.ensure_future(work)
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


async def answer_turn(
    send: SendMessage,
    feeds: TurnFeeds,
    user_id: UUID,
    session_id: UUID,
    message_text: str,
    idempotency_key: str | None,
) -> SentTurn:
    """POST …/turns answered when the turn has finished; 503 naming the turn when the database failed
    under it (the turn waits for the database and finishes without this client)."""
    return await answer_started(send, await send.start(user_id, session_id, message_text, idempotency_key), feeds)


async def answer_started(send: SendMessage, started: StartedTurn, feeds: TurnFeeds | None = None) -> SentTurn:
    """A started turn (or its Idempotency-Key replay) answered when it has finished; see `answer_turn`.
    With `feeds`, the followers of the turn in this process get its events without a query."""
    if started.replay is not None:
        return SentTurn(started.replay, replayed=True)
    context = started.context
    assert context is not None
    paused = asyncio.Event()
    listener = feeds.publisher(context.user_id, context.turn_id) if feeds is not None else None
    task = detached(send.run(context, listener=listener, on_pause=paused.set))
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
    feeds: TurnFeeds,
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
        return replay(reader, feeds, user_id, started.replay.id, 0, first, max_s)
    context = started.context
    assert context is not None
    task = detached(send.run(context, listener=feeds.publisher(user_id, context.turn_id)))
    nothing_yet = EventPage(events=[], running=True)
    return replay(reader, feeds, user_id, context.turn_id, 0, nothing_yet, max_s, turn_task=task)


def run_streamed(send: SendMessage, context: TurnContext) -> asyncio.Queue[TurnEvent | None]:
    """Run the turn on its own (see `detached`); its events reach the queue as they are stored, then None."""
    queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()
    task = detached(send.run(context, listener=queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    return queue
