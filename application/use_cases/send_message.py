"""A user message starts a turn: refuse what must be refused, snapshot the room, allocate the turn, run it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

import msgspec

from application.errors import StoreUnavailable, TurnUnavailable
from application.memory import Memory, summary_block
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.events import TurnEvent
from application.ports.pricing import PricingStore
from application.ports.turns import TurnContext, TurnStore
from application.ports.wallet import TurnGate
from application.steps import call_worst_case, prepare_step, who
from application.use_cases.agents import DEFAULT_MAX_AGENTS
from application.use_cases.remember_session import RememberSession
from application.use_cases.run_turn import RunTurn
from domain.budget import compute_budget, estimate_tokens
from domain.errors import (
    ContextBudgetExceeded,
    IdempotencyConflict,
    NotFound,
    TurnInProgress,
    ValidationFailed,
    too_many_agents,
)
from domain.memory import Summary
from domain.model import Mode
from domain.modes import apply_pending
from domain.planning import next_step, plan_turn
from domain.pricing import PricingVersion
from domain.turns import PlannedStep, RosterEntry, Turn, TurnStatus
from domain.wallet import ZERO

log = logging.getLogger(__name__)
DEFAULT_MANAGER_MODEL = "sim"  # PANTHEON_MANAGER_MODEL: the manager of rooms that name none
MAX_MESSAGE_CHARS = 50_000
DEFAULT_MAX_RUNNING_TURNS = 4  # PANTHEON_MAX_RUNNING_TURNS, per user across sessions and processes


def request_hash(session_id: UUID, message: str) -> str:
    return hashlib.sha256(f"{session_id}\n{message}".encode()).hexdigest()


class SentTurn:
    def __init__(self, turn: Turn, replayed: bool) -> None:
        self.turn, self.replayed = turn, replayed


class StartedTurn(msgspec.Struct, frozen=True, kw_only=True):
    """What `start` gives back: a turn to run now, or the finished turn an Idempotency-Key replays."""

    context: TurnContext | None = None
    replay: Turn | None = None


class SendMessage:
    def __init__(
        self,
        turns: TurnStore,
        pricing: PricingStore,
        catalog: ModelCatalog,
        run_turn: RunTurn,
        clock: Clock,
        ids: IdGenerator,
        *,
        max_agents: int = DEFAULT_MAX_AGENTS,
        manager_model: str = DEFAULT_MANAGER_MODEL,
        max_running_turns: int = DEFAULT_MAX_RUNNING_TURNS,
        wallets: bool = True,
        memory: RememberSession | None = None,
    ) -> None:
        self._turns, self._pricing, self._catalog, self._run_turn = turns, pricing, catalog, run_turn
        self._clock, self._ids = clock, ids
        self._max_agents, self._manager_model = max_agents, manager_model
        self._max_running, self._wallets, self._memory = max_running_turns, wallets, memory

    async def execute(
        self, user_id: UUID, session_id: UUID, message: str, idempotency_key: str | None = None
    ) -> SentTurn:
        started = await self.start(user_id, session_id, message, idempotency_key)
        if started.replay is not None:
            return SentTurn(started.replay, replayed=True)
        assert started.context is not None
        return SentTurn(await self.run(started.context), replayed=False)

    async def start(
        self,
        user_id: UUID,
        session_id: UUID,
        message: str,
        idempotency_key: str | None = None,
        *,
        turn_index: int | None = None,
    ) -> StartedTurn:
        """Everything that can refuse the message (4xx), then the turn's allocation; nothing runs yet.
        `turn_index`: the index the caller found the session at (a conversation continued from its
        stored turns); a session that went on meanwhile answers 409 rather than take the message later."""
        if not message.strip() or len(message) > MAX_MESSAGE_CHARS:
            raise ValidationFailed(
                f"The message must hold 1 to {MAX_MESSAGE_CHARS} characters, not only spaces.",
                extra=[{"key": "message", "source": "body"}],
            )
        digest = request_hash(session_id, message)
        if idempotency_key is not None:
            replay = await self._replay(user_id, session_id, idempotency_key, digest)
            if replay is not None:
                return StartedTurn(replay=replay)
        start = await self._turns.turn_start(user_id, session_id)
        if start is None:
            raise NotFound("No such session.")
        if start.busy:
            raise TurnInProgress("Another turn of this session is still running.")
        if turn_index is not None and start.next_index != turn_index:
            raise TurnInProgress("This conversation went on meanwhile in its session; send it again.")
        mode, _ = apply_pending(start.current_mode, start.pending_mode)  # invariant 7: fixed from here on
        manager = (start.manager_model or self._manager_model) if mode is Mode.ORCHESTRATOR else None
        # May refuse (4xx): nothing has been written.
        steps = self._plan(mode, start.roster, message, manager, summary_block(start.summary))
        pricing = await self._pricing.active_version()
        context = TurnContext(
            turn_id=self._ids.new_id(),
            user_id=user_id,
            room_id=start.room_id,
            session_id=session_id,
            turn_index=start.next_index,
            mode=mode,
            user_message=message,
            room_goal=start.room_goal,
            roster=start.roster,
            plan=steps,
            pricing_version=pricing.version,
            created_at=self._clock.now(),
            manager_model=manager,
            caps=start.caps,  # snapshotted with the roster (invariant 7)
        )
        try:
            # The running-turn limit and the first call's worst case (402), checked with the allocation.
            hold = await self._opening_hold(context, pricing, start.summary) if self._wallets else None
            context = msgspec.structs.replace(context, opening_hold=hold)
            await self._turns.allocate(
                context,
                applied_pending=start.pending_mode,
                idempotency_key=idempotency_key,
                request_hash=digest,
                gate=TurnGate(max_running=self._max_running, hold=hold),
            )
        except StoreUnavailable as exc:
            if not exc.maybe_written:
                raise  # nothing was sent: certainly no turn
            raise TurnUnavailable(
                "The database failed while the turn was being started; it may have started, and then it runs "
                "to its end. Repeat the request with the same Idempotency-Key to get it.",
                turn_id=context.turn_id,
                started=None,
            ) from exc
        except IdempotencyConflict:  # a concurrent request with the same key won the race
            replay = await self._replay(user_id, session_id, idempotency_key or "", digest)
            if replay is None:
                raise
            return StartedTurn(replay=replay)
        return StartedTurn(context=context)

    async def run(
        self,
        context: TurnContext,
        *,
        listener: Callable[[TurnEvent], None] | None = None,
        on_pause: Callable[[], None] | None = None,
    ) -> Turn:
        return await self._run_turn.execute(context, listener=listener, on_pause=on_pause)

    async def _opening_hold(self, context: TurnContext, pricing: PricingVersion, summary: Summary | None) -> Decimal:
        """The worst case of the turn's first call, prepared as its step will prepare it (same prompt,
        same memory of the session), so that a turn whose hold was granted can always reserve its first call."""
        first = next_step(context.mode, context.plan, context.roster, [])
        spec = self._catalog.spec(who(context, first).model) if first is not None else None
        if first is None or spec is None:
            return ZERO  # its step fails without a call
        # The session as the first call will see it, unless a summary due at this turn's start shrinks it.
        memory = await self._memory.as_it_stands(context, summary) if self._memory is not None else Memory()
        try:
            prepared = prepare_step(context, first, [], memory, spec, call_id=context.turn_id, now=context.created_at)
        except ContextBudgetExceeded:
            return ZERO  # likewise
        return call_worst_case(prepared, pricing)

    def _plan(
        self, mode: Mode, roster: list[RosterEntry], message: str, manager: str | None, summary: str
    ) -> list[PlannedStep]:
        steps = plan_turn(mode, roster, message)
        if len(steps) > self._max_agents:  # a room filled before the limit was lowered
            raise too_many_agents(self._max_agents)
        # An orchestrated turn's manager may call any agent, and reads the message and the roster itself.
        speakers = [(s.agent.agent_key, s.agent.model, s.agent.role_prompt + summary) for s in steps if s.agent]
        if mode is Mode.ORCHESTRATOR:
            roster_text = "\n".join(f"{a.agent_key} {a.name} {a.role_prompt}" for a in roster)
            speakers = [(a.agent_key, a.model, a.role_prompt + summary) for a in roster] + [
                ("manager", manager or "", roster_text)
            ]
        self._check_budget(speakers, message)
        return steps

    def _check_budget(self, speakers: list[tuple[str, str, str]], message: str) -> None:
        """Refuse up front a message that cannot fit some speaker's context even without history (the
        session's summary, pinned in every agent's context, counts: it is in the role prompt here)."""
        for key, model, role_prompt in speakers:
            spec = self._catalog.spec(model)
            budget = compute_budget(spec.context_window if spec else None).input_budget
            needed = estimate_tokens(message) + estimate_tokens(role_prompt) + 200
            if needed > budget:
                raise ContextBudgetExceeded(
                    f"The message is too long for {key}'s model ({needed} > {budget} tokens).",
                    extra={"agent_key": key, "required_tokens": needed, "input_budget": budget},
                )

    async def _replay(self, user_id: UUID, session_id: UUID, key: str, digest: str) -> Turn | None:
        found = await self._turns.idempotent_turn(user_id, key)
        if found is None:
            return None
        if found.session_id != session_id or found.request_hash != digest:
            raise IdempotencyConflict("This Idempotency-Key was used for a different request.")
        if found.status is TurnStatus.RUNNING:
            raise TurnInProgress("The turn started with this Idempotency-Key is still running.")
        turn = await self._turns.turn_of(user_id, found.turn_id)
        if turn is None:
            raise NotFound("No such turn.")
        return turn
