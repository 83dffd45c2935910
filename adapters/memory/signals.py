"""Wake-ups of followers in memory: told by the MemoryDatabase whenever a write stores turn events."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from adapters.memory.stores import MemoryDatabase
from adapters.wakeups import Wakeups
from application.ports.signals import Wake


class MemoryTurnEventSignals:
    def __init__(self, db: MemoryDatabase) -> None:
        self._wakeups = Wakeups()
        db.event_hooks.append(self._wakeups.notify)

    def watch(self, turn_id: UUID, wake: Wake) -> Callable[[], None]:
        return self._wakeups.watch(turn_id, wake)
