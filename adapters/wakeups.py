"""The in-process fan-out behind every TurnEventSignals adapter: who watches which turn."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from application.ports.signals import Wake


class Wakeups:
    def __init__(self) -> None:
        self._watchers: dict[UUID, list[Wake]] = {}

    def watch(self, turn_id: UUID, wake: Wake) -> Callable[[], None]:
        watchers = self._watchers.setdefault(turn_id, [])
        watchers.append(wake)

        def stop() -> None:
            if wake in watchers:
                watchers.remove(wake)
            if not watchers and self._watchers.get(turn_id) is watchers:
                del self._watchers[turn_id]

        return stop

    def notify(self, turn_id: UUID, seq: int | None) -> None:
        for wake in list(self._watchers.get(turn_id, ())):
            wake(seq)

    def notify_all(self) -> None:
        for watchers in list(self._watchers.values()):
            for wake in list(watchers):
                wake(None)

    @property
    def watched(self) -> int:
        return len(self._watchers)
