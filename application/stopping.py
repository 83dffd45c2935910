"""The stop state of one running turn: what was asked (by the user, or a cap), and the cancel signal a
`now` stop gives the call in flight (application/ports/llm.py CallCancel)."""

from __future__ import annotations

import asyncio

from domain.stopping import Stop, StopMode, StopReason, stronger


class StopSignal:
    def __init__(self) -> None:
        self.stop: Stop | None = None
        self.synthesis_refused = False  # the credit cap did not leave room for an orchestrated synthesis
        self._now = asyncio.Event()

    def request(self, mode: StopMode, reason: StopReason) -> None:
        """Idempotent: the first reason stands; `now` cuts the call in flight whenever it comes."""
        self.stop = stronger(self.stop, mode, reason)
        if self.stop.mode is StopMode.NOW:
            self._now.set()

    def impose(self, stop: Stop | None) -> None:
        if stop is not None:
            self.request(stop.mode, stop.reason)

    @property
    def cancelled(self) -> bool:
        return self._now.is_set()

    async def wait(self) -> None:
        await self._now.wait()
