"""The room's pending-mode state machine: a mode change waits for the next turn (invariant 7)."""

from __future__ import annotations

from domain.model import Mode


def request_mode(current: Mode, pending: Mode | None, requested: Mode) -> Mode | None:
    """The room's new `pending_mode` after a user asks for `requested`.

    Asking for the mode already in force clears any waiting change, since the next turn would then
    run in `current` anyway; any other request replaces whatever was pending: the latest request wins.
    """
    return None if requested is current else requested


def apply_pending(current: Mode, pending: Mode | None) -> tuple[Mode, Mode | None]:
    """At turn start: (the mode this turn runs in, the new pending mode, always None)."""
    return (pending if pending is not None else current), None
