"""Turns left `running` by a dead process: resume them, or fail them when too old (invariant 3)."""

from __future__ import annotations

import logging
from datetime import timedelta

from application.events import EventLog
from application.ledger import recovered_entry
from application.ports.clock import Clock, IdGenerator
from application.ports.events import TurnEventStore
from application.ports.pricing import PricingStore
from application.ports.turns import StepRecorder, TurnContext, TurnStore
from application.use_cases.run_turn import RunTurn
from domain.turns import StepError, TurnStatus

log = logging.getLogger(__name__)


class RecoverTurns:
    def __init__(
        self,
        turns: TurnStore,
        recorder: StepRecorder,
        pricing: PricingStore,
        run_turn: RunTurn,
        events: TurnEventStore,
        clock: Clock,
        ids: IdGenerator,
        *,
        stale_after_s: float,
        abandon_after_s: float,
    ) -> None:
        self._turns, self._recorder, self._pricing, self._run_turn = turns, recorder, pricing, run_turn
        self._events = events
        self._clock, self._ids = clock, ids
        self._stale_after = timedelta(seconds=stale_after_s)
        self._abandon_after = timedelta(seconds=abandon_after_s)

    async def claim(self) -> list[tuple[TurnContext, bool]]:
        """Claim every stale turn; returns (turn, resume?) pairs: resume False means it was failed."""
        now = self._clock.now()
        claimed: list[tuple[TurnContext, bool]] = []
        for stale in await self._turns.stale_turns(now - self._stale_after):
            if not await self._turns.claim_turn(stale.turn_id, stale.heartbeat_at, now):
                continue  # another process got it first
            context = await self._turns.context_of(stale.turn_id)
            if context is None:
                continue
            await self._cancel_cut_calls(context)
            if now - stale.created_at > self._abandon_after:
                error = StepError(
                    code="turn_abandoned", detail="The server running this turn stopped and it was too old to resume."
                )
                events = EventLog(context, self._events, self._clock, await self._events.next_seq(context.turn_id))
                events.turn_failed(error)
                await self._turns.finish_turn(context.turn_id, TurnStatus.FAILED, now, error, events.take())
                log.warning("abandoned turn marked failed", extra={"turn_id": str(context.turn_id)})
                claimed.append((context, False))
            else:
                claimed.append((context, True))
        return claimed

    async def resume(self, context: TurnContext) -> None:
        log.info("resuming interrupted turn", extra={"turn_id": str(context.turn_id)})
        await self._run_turn.execute(context, resume=True)

    async def _cancel_cut_calls(self, context: TurnContext) -> None:
        intents = await self._recorder.open_intents(context.turn_id)
        if not intents:
            return
        pricing = await self._pricing.pricing_version(context.pricing_version)
        assert pricing is not None
        now = self._clock.now()
        await self._recorder.cancel_intents(
            context.turn_id, [recovered_entry(context, i, pricing, self._ids.new_id(), now) for i in intents]
        )
