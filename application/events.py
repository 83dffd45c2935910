"""The event log of one running turn: numbers its events, merges text deltas, persists them in batches
and tells live listeners, so that a stream read live and one replayed later are the same events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec

from application.errors import StoreUnavailable
from application.ports.clock import Clock
from application.ports.events import EventType, TurnEvent, TurnEventStore
from application.ports.turns import TurnContext
from domain.turns import PlannedStep, StepError, Turn, TurnStep

FLUSH_EVERY_S = 0.1  # text deltas of a slow model reach readers at least this often


class EventLog:
    def __init__(
        self,
        turn: TurnContext,
        store: TurnEventStore,
        clock: Clock,
        next_seq: int,
        listener: Callable[[TurnEvent], None] | None = None,
        on_pause: Callable[[], None] | None = None,
    ) -> None:
        self._turn, self._store, self._clock, self._listener = turn, store, clock, listener
        self._on_pause = on_pause
        self._store_down = False  # a delta flush failed: deltas wait for the next write that succeeds
        self._next_seq = next_seq
        self._pending: list[tuple[EventType, dict[str, Any]]] = []
        self._taken = 0  # pending events handed to a write that has not settled yet: frozen
        self._shown_deltas_of: int | None = None  # a step whose text readers may have seen already
        self._last_flush = time.monotonic()

    @property
    def turn_id(self) -> UUID:
        return self._turn.turn_id

    def started(self) -> None:
        if self._next_seq == 1:  # a resumed turn announced itself already
            self._add("turn_started", {"turn_index": self._turn.turn_index, "mode": self._turn.mode.value})

    def step_started(self, planned: PlannedStep, agent_key: str | None, agent_name: str, model: str) -> None:
        self._add(
            "step_started",
            {
                "index": planned.index,
                "kind": planned.kind.value,
                "agent_key": agent_key,
                "agent_name": agent_name,
                "model": model,
            },
        )

    async def delta(self, index: int, text: str) -> None:
        last = self._pending[-1] if len(self._pending) > self._taken else None
        if last is not None and last[0] == "step_delta" and last[1]["index"] == index:
            last[1]["text"] += text  # consecutive deltas of a step travel as one event
        else:
            self._add("step_delta", {"index": index, "text": text})
        if not self._store_down and time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            try:
                await self.flush()
            except StoreUnavailable:
                # The text stays pending and goes out with the next write that succeeds (the step's
                # commit waits for the database); the provider's stream is not held up again for it.
                self._store_down = True
                if self._on_pause is not None:
                    self._on_pause()

    def retract_deltas(self, index: int) -> bool:
        """Drop the step's text not yet shown to anyone; False when some of it was (see FLUSH_EVERY_S)
        or may have been (a write carrying it failed in a way that may have stored it)."""
        frozen = self._pending[: self._taken]
        if self._shown_deltas_of == index or any(k == "step_delta" and d["index"] == index for k, d in frozen):
            return False
        keep = self._pending[: self._taken]
        keep += [(k, d) for k, d in self._pending[self._taken :] if not (k == "step_delta" and d["index"] == index)]
        self._pending = keep
        return True

    def step_completed(self, step: TurnStep) -> None:
        self._add(
            "step_completed",
            {
                "index": step.index,
                "status": step.status.value,
                "content": step.content,
                "error": msgspec.to_builtins(step.error) if step.error else None,
                "usage": msgspec.to_builtins(step.usage),
            },
        )

    def turn_completed(self, turn: Turn) -> None:
        self._add("turn_completed", {"turn": msgspec.to_builtins(turn)})

    def turn_failed(self, error: StepError) -> None:
        self._add("turn_failed", {"error": msgspec.to_builtins(error)})

    def take(self) -> list[TurnEvent]:
        """Number the pending events for a write that persists them with other rows (see `settle`).

        Taken events stay frozen until settled or discarded, also when their write fails: it may have
        stored them, so a later write must carry exactly the same rows (the store ignores duplicates).
        """
        events = []
        self._taken = len(self._pending)
        for offset, (kind, data) in enumerate(self._pending):
            seq = self._next_seq + offset
            events.append(TurnEvent(seq=seq, type=kind, data={"turn_id": str(self._turn.turn_id), "seq": seq, **data}))
        return events

    def settle(self, events: list[TurnEvent]) -> None:
        """`events` (from `take`) are persisted: consume them and tell the listener."""
        del self._pending[: len(events)]
        self._taken = 0
        deltas = [e.data["index"] for e in events if e.type == "step_delta"]
        if deltas:
            self._shown_deltas_of = deltas[-1]
        self._next_seq += len(events)
        self._last_flush = time.monotonic()
        self._store_down = False
        if self._listener is not None:
            for event in events:
                self._listener(event)

    async def reconcile(self, events: list[TurnEvent]) -> bool:
        """The write carrying `events` (from `take`) found its rows already stored: written by an earlier
        attempt of ours whose answer was lost, or by another process. Follow the store either way;
        True when they were ours (then they count as written)."""
        stored_next = await self._store.next_seq(self._turn.turn_id)
        if events and stored_next == self._next_seq + len(events):
            self.settle(events)
            return True
        del self._pending[: self._taken]
        self._taken = 0
        self._next_seq = stored_next
        return False

    async def flush(self) -> None:
        events = self.take()
        if events:
            await self._store.append_events(self._turn.turn_id, events, self._clock.now())
            self.settle(events)

    def _add(self, kind: EventType, data: dict[str, Any]) -> None:
        self._pending.append((kind, data))
