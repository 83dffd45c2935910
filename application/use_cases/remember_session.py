"""A turn's start, for its session's memory: read the newest summary and the raw turns after it, and
fold the older turns into a new summary when one is due (docs/design.md, "Session memory").

The summary call is paid for like any other: an intent before each attempt, one ledger row per attempt
(purpose `summary`, no step), committed with the summary in one transaction. A summary that fails, in
its call or in its decoding after one repair, is logged and the turn goes on with the older summary
and pruning: memory is never a reason to fail a turn."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from application.context import session_tokens, turn_tokens
from application.errors import CallRefused, StoreUnavailable
from application.ledger import attempt_entry, recovered_entry, step_usage
from application.memory import SUMMARY_FORMAT, Memory, summary_messages
from application.patience import Patience
from application.ports.catalog import ModelCatalog
from application.ports.clock import Clock, IdGenerator
from application.ports.llm import ChatMessage, LlmClient, LlmRequest, LlmResult
from application.ports.memory import SummaryStore
from application.ports.pricing import PricingStore
from application.ports.turns import ContextAudit, HistoryStore, HistoryTurn, LedgerEntry, StepRecorder, TurnContext
from application.ports.wallet import WalletStore
from application.steps import HISTORY_TURNS, CallShape, TurnRun, call_records, estimate_messages
from application.use_cases.execute_step import IntentLog, reserver
from domain.budget import compute_budget
from domain.memory import Summary, SummaryContent, SummaryError, decode_summary, plan_summary
from domain.model import ModelSpec
from domain.wallet import worst_case

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_SUMMARY_MODEL = "sim"  # PANTHEON_SUMMARY_MODEL: the alias that writes session summaries


class RememberSession:
    def __init__(
        self,
        llm: LlmClient,
        catalog: ModelCatalog,
        pricing: PricingStore,
        history: HistoryStore,
        memory: SummaryStore,
        recorder: StepRecorder,
        clock: Clock,
        ids: IdGenerator,
        patience: Patience,
        wallet: WalletStore | None = None,
        *,
        summary_model: str = DEFAULT_SUMMARY_MODEL,
    ) -> None:
        self._llm, self._catalog, self._pricing, self._history, self._memory = llm, catalog, pricing, history, memory
        self._recorder, self._clock, self._ids, self._patience = recorder, clock, ids, patience
        self._summary_model = summary_model
        self._wallet = wallet  # None: wallets are off

    async def prepare(self, run: TurnRun) -> Memory:
        """The session as this turn's calls will see it, summarised first when a summary is due."""
        turn = run.context

        async def durable(operation: Callable[[], Awaitable[T]]) -> T:
            return await self._patience.retry(operation, run.on_pause)

        last, raw, truncated = await self._read(turn, durable)
        if last is not None and last.turn_id == turn.turn_id:  # resumed: this turn summarised already
            return Memory(summary=last, history=raw, truncated=truncated, summarized=True, before_summary=last)
        agents = [s.agent for s in turn.plan if s.agent is not None] or turn.roster
        budgets = [compute_budget(self._window(a.model)).input_budget for a in agents]
        tokens = session_tokens(turn, agents, last, raw)
        sizes = [(t.turn_index, turn_tokens(t)) for t in raw]
        due = plan_summary(turn.turn_index, last, tokens, min(budgets, default=0), sizes)
        kept = Memory(summary=last, history=raw, truncated=truncated)
        if due is None:
            return kept
        why, through = due
        try:
            summary = await self._summarize(run, last, [t for t in raw if t.turn_index <= through], through, durable)
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("summary crashed: the turn goes on without it")
            await self._ledger_cut_attempts(run, durable)
            return kept
        if summary is None:
            return kept
        log.info("session summarised", extra={"fields": {"why": why, "through_turn_index": through}})
        fresh = [t for t in raw if t.turn_index > summary.through_turn_index]
        return Memory(
            summary=summary,
            history=fresh,
            truncated=truncated,
            summarized=True,
            before_summary=last,
            before_history=raw,
        )

    async def _ledger_cut_attempts(
        self, run: TurnRun, durable: Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]
    ) -> None:
        """A summary call cut by a crash of our own (an attempt may have reached the provider) gets its
        ledger row now, `cancelled` at 0 credits as recovery would write it, so that no intent of the
        turn outlives it (invariant 1)."""
        turn = run.context
        intents = [i for i in await durable(lambda: self._recorder.open_intents(turn.turn_id)) if i.step_index is None]
        if not intents:
            return
        pricing = await durable(lambda: self._pricing.pricing_version(turn.pricing_version))
        assert pricing is not None, "a turn always names a published pricing version"
        now = self._clock.now()
        entries = [recovered_entry(turn, intent, pricing, self._ids.new_id(), now) for intent in intents]
        if await durable(lambda: self._recorder.commit_summary(turn.turn_id, None, entries, [])):
            run.attempts += len(entries)
            run.overhead.append(step_usage(entries))

    async def as_it_stands(self, turn: TurnContext, last: Summary | None) -> Memory:
        """The session as the turn's calls see it when no summary is due (read only, nothing written),
        `last` being its newest summary as the turn's start read it: what a turn's opening hold is
        computed from, before the turn exists."""
        _, raw, truncated = await self._read(turn, lambda operation: operation(), last)
        return Memory(summary=last, history=raw, truncated=truncated)

    async def _read(
        self,
        turn: TurnContext,
        durable: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]],
        known: Summary | Literal[False] | None = False,
    ) -> tuple[Summary | None, list[HistoryTurn], bool]:
        """The newest summary (read unless `known`), and the raw turns after it (newest first, at most
        HISTORY_TURNS)."""
        last: Summary | None = (
            await durable(lambda: self._memory.latest_summary(turn.session_id)) if known is False else known
        )
        # The newest turns, as the history cache keeps them; the unfolded ones among them are the raw
        # history. Indices are gapless, so whether older unfolded turns were left unread is arithmetic.
        read: list[HistoryTurn] = await durable(
            lambda: self._history.recent(turn.session_id, before_index=turn.turn_index, limit=HISTORY_TURNS)
        )
        folded = last.through_turn_index if last else -1
        raw = [t for t in read if t.turn_index > folded]
        return last, raw, turn.turn_index - 1 - folded > len(raw)

    def _window(self, alias: str) -> int | None:
        spec = self._catalog.spec(alias)
        return spec.context_window if spec else None

    async def _summarize(
        self,
        run: TurnRun,
        last: Summary | None,
        turns: list[HistoryTurn],
        through: int,
        durable: Callable[[Callable[[], Awaitable[T]]], Awaitable[T]],
    ) -> Summary | None:
        turn = run.context
        spec = self._catalog.spec(self._summary_model)
        if spec is None:
            log.warning("summary skipped: unknown summary model", extra={"fields": {"model": self._summary_model}})
            return None
        budget = compute_budget(spec.context_window).input_budget
        while len(turns) > 1 and estimate_messages(summary_messages(last, turns, turn.room_goal)) > budget:
            turns = sorted(turns, key=lambda t: t.turn_index)[1:]  # the oldest go first, as in pruning
        rows: list[LedgerEntry] = []
        audits: list[ContextAudit] = []
        content: SummaryContent | None = None
        refused: tuple[str, str] | None = None
        for _ in range(2):  # the call, then at most one repair quoting what was wrong
            messages = summary_messages(last, turns, turn.room_goal, refused)
            result, call_rows, audit = await self._call(run, spec, messages, budget, len(turns), durable)
            rows += call_rows
            audits.append(audit)
            if not result.ok:
                code = result.error.code if result.error else "error"
                log.warning("summary call failed: the turn goes on without it", extra={"fields": {"code": code}})
                break
            try:
                content = decode_summary(result.text)
                break
            except SummaryError as exc:
                refused = (result.text, str(exc))
                log.warning("summary refused", extra={"fields": {"why": str(exc)}})
        summary = None
        if content is not None:
            summary = Summary(
                id=self._ids.new_id(),
                session_id=turn.session_id,
                through_turn_index=through,
                summary_text=content.summary_text,
                key_facts=content.key_facts,
                decisions=content.decisions,
                open_questions=content.open_questions,
                action_items=content.action_items,
                created_at=self._clock.now(),
                turn_id=turn.turn_id,
                turn_index=turn.turn_index,
            )
        if await durable(lambda: self._recorder.commit_summary(turn.turn_id, summary, rows, audits)):
            run.attempts += len(rows)
            run.overhead.append(step_usage(rows))
            return summary
        # Already written, by an attempt of ours whose answer was lost: read it back.
        stored = await durable(lambda: self._memory.latest_summary(turn.session_id))
        return stored if stored is not None and stored.turn_id == turn.turn_id else None

    async def _call(
        self,
        run: TurnRun,
        spec: ModelSpec,
        messages: list[ChatMessage],
        budget: int,
        turns: int,
        durable: Callable[[Callable[[], Awaitable[T]]], Awaitable[T]],
    ) -> tuple[LlmResult, list[LedgerEntry], ContextAudit]:
        turn, call_id, now = run.context, self._ids.new_id(), self._clock.now()
        estimated = estimate_messages(messages)
        intent, audit = call_records(
            turn,
            spec,
            CallShape(None, None, "summary"),
            call_id=call_id,
            now=now,
            budget=budget,
            estimated=(estimated, estimated),
            history_turns=turns,
            actions=[],
        )
        request = LlmRequest(model=spec, messages=messages, first_call_id=str(call_id), response_format=SUMMARY_FORMAT)
        pricing = await durable(lambda: self._pricing.pricing_version(turn.pricing_version))
        assert pricing is not None, "a turn always names a published pricing version"
        reserve = None
        if self._wallet is not None:  # reserved like any call; the turn's opening hold is its first step's
            amount = worst_case(pricing, spec.alias, estimated, request.max_output_tokens)
            reserve = reserver(self._wallet, self._clock, durable, turn, None, amount)  # type: ignore[arg-type]
        observer = IntentLog(self._recorder, self._clock, intent, durable, run.events, reserve)  # type: ignore[arg-type]
        try:
            result = await self._llm.stream(request, None, observer)
        except CallRefused as refused:  # not sent: the summary fails like any failed call
            result = LlmResult(text="", attempts=observer.finished, error=refused.error)
        rows = [
            attempt_entry(
                turn,
                None,
                None,
                spec,
                attempt,
                pricing,
                self._ids.new_id(),
                observer.started.get(attempt.call_id, now),
                "summary",
            )
            for attempt in result.attempts
        ]
        return result, rows, audit
