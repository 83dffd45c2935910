"""Wake-ups of a turn's followers: told that events of the turn were stored, by any process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from uuid import UUID

# Called in the event loop with the highest seq known stored, or None when some notices may have been
# missed (the listener reconnected): the watcher should read what it has not seen.
Wake = Callable[[int | None], None]


class TurnEventSignals(Protocol):
    def watch(self, turn_id: UUID, wake: Wake) -> Callable[[], None]:
        """Call `wake` soon after events of `turn_id` are stored (committed), whoever stored them; the
        returned function stops it. A notice says only that something is there, never what: at most
        once per write, possibly for events the watcher has read already."""
        ...
