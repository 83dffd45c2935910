"""Followers of running turns in this process: a turn's new events are read once and fanned out to all
of its followers here, however many they are.

A feed per followed turn watches TurnEventSignals. Woken (a notice that some process stored events of
the turn, or the process running the turn handing over what it has just stored), it reads the events
after the last one it has seen, one query whatever the number of followers, and offers them to each
follower's backlog. While nothing happens a follower costs nothing: no query, no timer of its own. A
read every SAFETY_POLL_S covers a notice lost on the way.

Each follower sees exactly the stored events, in order, each once (invariant 9): a feed hands out
only runs that continue the last one it handed out, and a follower behind its feed (it joined late,
or the feed skipped a gap) reads the difference from the store itself.

A follower's backlog is bounded (`backlog_bytes`, PANTHEON_STREAM_BACKLOG_BYTES): a reader that stops
reading is cut once the events waiting for it exceed the bound, rather than holding them without
limit; the turn never waits for a reader. Events are shared, not copied, between the backlogs of one
turn's followers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Literal, NamedTuple
from uuid import UUID

import msgspec

from application.errors import StoreUnavailable
from application.ports.events import TERMINAL, EventPage, TurnEvent, TurnEventStore
from application.ports.signals import TurnEventSignals

SAFETY_POLL_S = 5.0  # a followed turn is read at least this often, notice or not
OUTAGE_POLL_S = 1.0  # … and this often while the database is unavailable
PAGE = 500
DEFAULT_BACKLOG_BYTES = 1024 * 1024  # JSON bytes of the events waiting for one reader before it is cut

log = logging.getLogger(__name__)
End = Literal["finished", "stopped", "gone", "cut"]
_json = msgspec.json.Encoder()


class Next(NamedTuple):
    events: list[TurnEvent]  # in order, continuing the follower's last
    end: End | None  # why the stream ends (after `events`); None: it goes on


class Follower:
    """One reader of one turn (see the module docstring); `next()` gives what it should send next."""

    def __init__(self, feed: _Feed, after_seq: int, backlog_bytes: int) -> None:
        self.last = after_seq  # the last event handed to the reader
        self.on_cut: Callable[[], None] | None = None
        self._feed = feed
        self._limit = backlog_bytes
        self._backlog: deque[tuple[TurnEvent, int]] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._end: End | None = None
        self._drained = False  # "stopped": the store was read once more after the turn's task ended
        self._sending = False  # between handing events to the reader and its next call: it may be stuck

    @property
    def backlog_bytes(self) -> int:
        return self._bytes

    def start_with(self, events: list[TurnEvent]) -> None:
        """Events the reader read itself before joining (its first page): handed out first."""
        self.offer([(event, len(_json.encode(event.data))) for event in events])

    def offer(self, run: list[tuple[TurnEvent, int]]) -> None:
        if self._end == "cut":
            return
        self._backlog.extend(run)
        self._bytes += sum(size for _, size in run)
        if self._bytes > self._limit and self._sending:
            self._cut()
        self._ready.set()

    def end(self, reason: End) -> None:
        """Stop after what is pending: `finished` (the turn ended; catch up to its last event),
        `stopped` (the turn's task here ended; read the store once more), `gone` (now)."""
        if self._end is None:
            self._end = reason
            self._ready.set()

    async def next(self, timeout: float) -> Next:  # noqa: ASYNC109
        """The next events, or why the stream ends; nothing after `timeout` of quiet."""
        self._sending = False
        try:
            return await self._next(time.monotonic() + timeout)
        finally:
            self._sending = True

    async def _next(self, deadline: float) -> Next:
        while True:
            if self._end in ("cut", "gone"):
                return Next([], self._end)
            if events := self._take():
                return Next(events, None)
            if self._behind():
                try:
                    page = await self._feed.read(self.last)
                except StoreUnavailable:
                    await asyncio.sleep(max(0.0, min(OUTAGE_POLL_S, deadline - time.monotonic())))
                    if time.monotonic() >= deadline:
                        return Next([], None)
                    continue
                if page is None:
                    return Next([], "gone")
                self._drained = self._end == "stopped" and len(page.events) < PAGE
                if not page.running and len(page.events) < PAGE:
                    self.end("finished")
                if events := [e for e in page.events if e.seq > self.last]:
                    self.last = events[-1].seq
                    return Next(events, None)
                continue
            if self._end is not None:
                return Next([], self._end)
            if (left := deadline - time.monotonic()) <= 0:
                return Next([], None)
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), left)
            except TimeoutError:
                return Next([], None)

    def _take(self) -> list[TurnEvent]:
        backlog, events = self._backlog, []
        while backlog and backlog[0][0].seq <= self.last:
            self._bytes -= backlog.popleft()[1]
        while backlog and backlog[0][0].seq == self.last + 1:
            event, size = backlog.popleft()
            self._bytes -= size
            self.last = event.seq
            events.append(event)
        return events

    def _behind(self) -> bool:
        if self._end == "stopped" and not self._drained:
            return True
        return self.last < self._feed.last and not (self._backlog and self._backlog[0][0].seq == self.last + 1)

    def _cut(self) -> None:
        self._backlog.clear()
        self._bytes = 0
        self._end = "cut"
        self._feed.leave(self)
        if self.on_cut is not None:
            self.on_cut()


class _Feed:
    def __init__(self, feeds: TurnFeeds, user_id: UUID, turn_id: UUID, last: int) -> None:
        self.user_id, self.turn_id, self.last = user_id, turn_id, last
        self.followers: list[Follower] = []
        self._feeds = feeds
        self._forced = True  # read at once: events may have been stored before the watch began
        self._wanted = last  # the highest seq a notice named
        self._woken = asyncio.Event()
        self._closed = False
        self._stop_watching = feeds.signals.watch(turn_id, self.wake)
        self._task = asyncio.create_task(self._run(), name=f"turn-feed-{turn_id}")

    def wake(self, seq: int | None) -> None:
        if seq is None:
            self._forced = True
        else:
            self._wanted = max(self._wanted, seq)
        if self._due:
            self._woken.set()

    @property
    def _due(self) -> bool:
        # A notice naming events already handed over (the turn runs here and published them) costs nothing.
        return self._forced or self._wanted > self.last

    async def read(self, after_seq: int) -> EventPage | None:
        return await self._feeds.store.events_after(self.user_id, self.turn_id, after_seq, PAGE)

    def offer(self, events: list[TurnEvent]) -> None:
        run = []
        for event in events:
            if event.seq <= self.last:
                continue
            if event.seq != self.last + 1:  # a gap: read it from the store rather than skip it
                self.wake(None)
                break
            run.append((event, len(_json.encode(event.data))))
            self.last = event.seq
        if run:
            for follower in list(self.followers):
                follower.offer(run)
            if run[-1][0].type in TERMINAL:
                self._finish("finished")

    def join(self, follower: Follower) -> None:
        self.followers.append(follower)

    def leave(self, follower: Follower) -> None:
        if follower in self.followers:
            self.followers.remove(follower)
        if not self.followers:
            self._close()

    def _finish(self, reason: End) -> None:
        for follower in list(self.followers):
            follower.end(reason)
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_watching()
        self._feeds.forget(self)
        if asyncio.current_task() is not self._task:
            self._task.cancel()

    async def _run(self) -> None:
        while not self._closed:
            if not self._due:
                try:
                    await asyncio.wait_for(self._woken.wait(), self._feeds.safety_poll_s)
                except TimeoutError:
                    self._forced = True  # the safety read
            self._woken.clear()
            if not self._due:
                continue
            self._forced = False
            try:
                page = await self.read(self.last)
            except StoreUnavailable:
                self._forced = True
                await asyncio.sleep(OUTAGE_POLL_S)
                continue
            except Exception:  # a feed that died would leave its followers waiting for nothing
                log.exception("reading a followed turn's events failed", extra={"fields": {"turn_id": self.turn_id}})
                self._forced = True
                await asyncio.sleep(OUTAGE_POLL_S)
                continue
            if page is None:  # the room was deleted
                self._finish("gone")
                return
            self.offer(page.events)
            if not self._closed and not page.running and len(page.events) < PAGE:
                self._finish("finished")
            if len(page.events) == PAGE:
                self._forced = True


class TurnFeeds:
    """Every feed of this process, by (owner, turn)."""

    def __init__(
        self,
        store: TurnEventStore,
        signals: TurnEventSignals,
        *,
        backlog_bytes: int = DEFAULT_BACKLOG_BYTES,
        safety_poll_s: float = SAFETY_POLL_S,
    ) -> None:
        self.store, self.signals = store, signals
        self.backlog_bytes, self.safety_poll_s = backlog_bytes, safety_poll_s
        self._feeds: dict[tuple[UUID, UUID], _Feed] = {}

    @contextlib.contextmanager
    def follow(self, user_id: UUID, turn_id: UUID, after_seq: int) -> Iterator[Follower]:
        """Follow the owner's turn from after `after_seq` (the caller checked that it is theirs)."""
        feed = self._feeds.get((user_id, turn_id))
        if feed is None:
            feed = self._feeds[(user_id, turn_id)] = _Feed(self, user_id, turn_id, after_seq)
        follower = Follower(feed, after_seq, self.backlog_bytes)
        feed.join(follower)
        try:
            yield follower
        finally:
            feed.leave(follower)

    def publisher(self, user_id: UUID, turn_id: UUID) -> Callable[[TurnEvent], None]:
        """The listener of a turn run by this process: its events, as soon as they are stored, reach its
        followers here without a query (the database's notice of them is then ignored)."""

        def publish(event: TurnEvent) -> None:
            if (feed := self._feeds.get((user_id, turn_id))) is not None:
                feed.offer([event])

        return publish

    def forget(self, feed: _Feed) -> None:
        if self._feeds.get((feed.user_id, feed.turn_id)) is feed:
            del self._feeds[(feed.user_id, feed.turn_id)]

    @property
    def followers(self) -> int:
        return sum(len(f.followers) for f in self._feeds.values())
