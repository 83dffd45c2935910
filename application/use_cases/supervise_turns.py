"""A server process's duties towards turns, one round at a time: keep the turns it runs alive
(heartbeat), adopt the turns of processes that died, give back the credits their calls still held,
and let the runner forget finished turns."""

from __future__ import annotations

from datetime import timedelta

from application.ports.clock import Clock
from application.ports.turns import TurnContext, TurnRunner, TurnStore
from application.ports.wallet import WalletStore
from application.use_cases.recover_turns import RecoverTurns
from application.use_cases.run_turn import RunTurn
from domain.turns import Turn


class SuperviseTurns:
    def __init__(
        self,
        turns: TurnStore,
        recover: RecoverTurns,
        run_turn: RunTurn,
        runner: TurnRunner,
        clock: Clock,
        wallet: WalletStore | None = None,
        *,
        stale_after_s: float = 30.0,
    ) -> None:
        self._turns, self._recover, self._run_turn, self._runner, self._clock = turns, recover, run_turn, runner, clock
        self._wallet, self._stale_after = wallet, timedelta(seconds=stale_after_s)

    async def adopt(self) -> list[TurnContext]:
        """Claim the stale turns of dead processes (never one this process runs): the turns to resume."""
        return await self._recover.claim(running_here=set(self._run_turn.running_here()))

    async def round(self) -> list[TurnContext]:
        """Heartbeat first, so that no other process takes our turns for dead; then adopt and tidy up."""
        await self._turns.heartbeat(self._run_turn.running_here(), self._clock.now())
        adopted = await self.adopt()
        await self.sweep()
        await self._runner.forget_finished()
        return adopted

    async def sweep(self) -> int:
        """Invariant 8: no reservation outlives its call. Those of turns that ended without settling
        them, or whose process stopped heartbeating (it died), are released."""
        if self._wallet is None:
            return 0
        return await self._wallet.sweep(self._clock.now() - self._stale_after)

    async def resume(self, context: TurnContext) -> Turn:
        return await self._run_turn.execute(context, resume=True)
