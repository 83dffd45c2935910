"""Wake-ups of followers from PostgreSQL: one LISTEN connection per process, fanned out in process.

Migration 0009's triggers notify channel `pantheon_turn_events` with '<turn_id>:<seq>' in every
transaction that stores turn events (and '<turn_id>:' for the running turns of a deleted room), so a
notice arrives when, and only when, the events are there to read, from whichever process wrote them.
The listening connection is a dedicated autocommit connection, not one of the pool's (a pooled
connection would lose its LISTEN when handed to someone else). When it breaks (a database restart, an
outage) it is opened again, retrying every RETRY_MIN_S..RETRY_MAX_S, and every watcher is woken once it
listens again: notices sent in between are lost, so watchers read what they may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from uuid import UUID

from psycopg import AsyncConnection, OperationalError

from adapters.wakeups import Wakeups
from application.ports.signals import Wake

log = logging.getLogger(__name__)

CHANNEL = "pantheon_turn_events"
LISTEN = f"LISTEN {CHANNEL}"
RETRY_MIN_S = 0.2
RETRY_MAX_S = 2.0  # like the pool (adapters/postgres/pool.py): back within ~2 s of the database
OPEN_WAIT_S = 10.0
# Without these a connection whose peer vanished (no FIN: a network cut) would wait for notices forever.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class PostgresTurnEventSignals:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._wakeups = Wakeups()
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connects = 0  # times LISTEN was (re-)established: for tests and the bench

    def watch(self, turn_id: UUID, wake: Wake) -> Callable[[], None]:
        return self._wakeups.watch(turn_id, wake)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def open(self) -> None:
        """Start listening; waits until LISTEN holds (or OPEN_WAIT_S, then goes on retrying)."""
        self._task = asyncio.create_task(self._listen(), name="turn-event-listener")
        try:
            await asyncio.wait_for(self._listening.wait(), OPEN_WAIT_S)
        except TimeoutError:
            log.warning("turn event listener not listening yet; followers poll until it is")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                conn = await AsyncConnection.connect(self._url, autocommit=True, connect_timeout=3, **KEEPALIVES)
                async with conn:
                    await conn.execute(LISTEN)
                    self._listening.set()
                    self.connects += 1
                    delay = RETRY_MIN_S
                    self._wakeups.notify_all()  # whatever was stored while nobody listened
                    async for notice in conn.notifies():
                        self._dispatch(notice.payload)
            except (OperationalError, OSError) as exc:
                log.warning("turn event listener lost its connection: %s", type(exc).__name__)
            except Exception:  # never leave the process deaf: log, then listen again
                log.exception("turn event listener failed")
            self._listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _dispatch(self, payload: str) -> None:
        turn, _, seq = payload.partition(":")  # no seq: something else changed (the room was deleted)
        try:
            self._wakeups.notify(UUID(turn), int(seq) if seq else None)
        except ValueError:
            log.warning("ignoring a malformed turn event notice")
