"""Turns left `running` by a dead process: resume them, or end them when too old (invariant 3)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta
from uuid import UUID

from application.ports.clock import Clock
from application.ports.turns import TurnContext, TurnStore
from application.use_cases.run_turn import RunTurn
from domain.turns import StepError

log = logging.getLogger(__name__)


class RecoverTurns:
    def __init__(
        self,
        turns: TurnStore,
        run_turn: RunTurn,
        clock: Clock,
        *,
        stale_after_s: float,
        abandon_after_s: float,
    ) -> None:
        self._turns, self._run_turn, self._clock = turns, run_turn, clock
        self._stale_after = timedelta(seconds=stale_after_s)
        self._abandon_after = timedelta(seconds=abandon_after_s)

    async def claim(self, running_here: Collection[UUID] = ()) -> list[TurnContext]:
        """Claim every stale turn that this process is not running itself; returns the turns to resume.

        Calls cut by the dead process become ledger rows first. A turn too old to resume is ended by
        the partial-failure rule instead (its completed steps stand) and is not returned.
        """
        now = self._clock.now()
        claimed: list[TurnContext] = []
        for stale in await self._turns.stale_turns(now - self._stale_after):
            if stale.turn_id in running_here:
                continue  # ours, paused by a database outage: it carries on by itself
            if not await self._turns.claim_turn(stale.turn_id, stale.heartbeat_at, now):
                continue  # another process got it first
            context = await self._turns.context_of(stale.turn_id)
            if context is None:
                continue
            if now - stale.created_at > self._abandon_after:
                error = StepError(
                    code="turn_abandoned", detail="The server running this turn stopped and it was too old to resume."
                )
                await self._run_turn.close_out(context, error)
                log.warning("abandoned turn ended", extra={"turn_id": str(context.turn_id)})
                continue
            await self._run_turn.cancel_cut_calls(context)
            log.info("adopted an interrupted turn", extra={"turn_id": str(context.turn_id)})
            claimed.append(context)
        return claimed
