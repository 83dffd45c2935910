"""Reservations in the step executor, on in-memory fakes: each attempt (retries included) reserves its
worst case before it is sent, a refused one is never sent, and what was paid is still recorded."""

from __future__ import annotations

import uuid
from decimal import Decimal

from adapters.memory.turns import SequentialTurnRunner
from adapters.memory.wallet import MemoryAdminStore, MemoryWalletStore
from application.ports.admin import AuditNote
from application.ports.llm import LlmAttempt, LlmRequest, LlmResult
from application.use_cases.execute_step import ExecuteStep
from application.use_cases.remember_session import RememberSession
from application.use_cases.run_turn import RunTurn
from application.use_cases.send_message import SendMessage
from application.use_cases.supervise_turns import SuperviseTurns
from domain.errors import InsufficientCredits
from domain.model import Mode
from domain.turns import StepError, StepStatus, TokenUsage, TurnStatus
from tests.unit.use_cases.turn_world import TurnWorld


class RetryingLlm:
    """Every call: a first attempt that fails (retryable), then a retry that succeeds, if it is let through."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def stream(self, request: LlmRequest, on_delta=None, observer=None, cancel=None) -> LlmResult:
        attempts = []
        for call_id in (request.first_call_id, str(uuid.uuid4())):
            await observer.attempt_started(call_id)  # may raise CallRefused: then nothing more is sent
            self.sent.append(call_id)
            ok = bool(attempts)
            attempt = LlmAttempt(
                call_id=call_id,
                status="success" if ok else "timeout",
                usage=TokenUsage(input_tokens=100, output_tokens=50 if ok else 0),
                latency_ms=3,
                error=None if ok else StepError(code="provider_timeout", detail="slow"),
            )
            attempts.append(attempt)
            await observer.attempt_finished(attempt)
        return LlmResult(text="fine", attempts=attempts)


def wired(tw: TurnWorld, llm: object) -> tuple[SendMessage, MemoryWalletStore]:
    """The turn engine of `tw` with a wallet: every call (summaries too) reserves before it is sent."""
    wallet = MemoryWalletStore(tw.db)
    step = ExecuteStep(llm, tw.catalog, tw.pricing, tw.recorder, tw.clock, tw.ids, tw.patience, wallet)  # type: ignore[arg-type]
    memory = RememberSession(
        llm,  # type: ignore[arg-type]
        tw.catalog,
        tw.pricing,
        tw.history,
        tw.summaries,
        tw.recorder,
        tw.clock,
        tw.ids,
        tw.patience,
        wallet,
        summary_model=tw.summary_model,
    )
    run = RunTurn(
        tw.turns,
        SequentialTurnRunner(),
        step,
        memory,
        tw.events,
        tw.recorder,
        tw.pricing,
        tw.patience,
        tw.clock,
        tw.ids,
        tw.watch,
    )
    return SendMessage(tw.turns, tw.pricing, tw.catalog, run, tw.clock, tw.ids, memory=memory), wallet


async def test_a_retry_that_cannot_be_reserved_is_not_sent_and_the_paid_attempt_is_recorded(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    send, wallet = wired(tw, llm := RetryingLlm())
    # Room for one attempt's worst case (about 0.21 credits), not for two held at once.
    note = AuditNote(id=uuid.uuid4(), actor_id=None, action="set_cap", at=tw.clock.now())
    await MemoryAdminStore(tw.db).set_cap(user, Decimal("0.3"), note)
    turn = (await send.execute(user, session, "@ada hi")).turn
    assert turn.status is TurnStatus.FAILED and turn.steps[0].status is StepStatus.FAILED
    assert turn.steps[0].error is not None and turn.steps[0].error.code == "insufficient_credits"
    assert len(llm.sent) == 1  # the retry never left
    assert [e.status for e in tw.data.ledger] == ["timeout"] and turn.usage.llm_calls == 1
    credits = await wallet.credits_of(user, tw.clock.now())
    assert credits.reserved == 0 and credits.balance == 100 - tw.data.ledger[0].credits_burned


async def test_with_credit_enough_both_attempts_are_reserved_and_each_row_is_debited(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada", "bob", mode=Mode.ROUNDTABLE)
    send, wallet = wired(tw, llm := RetryingLlm())
    turn = (await send.execute(user, session, "go")).turn
    assert turn.status is TurnStatus.COMPLETED and len(llm.sent) == 4
    burned = sum(e.credits_burned for e in tw.data.ledger)
    debits = [tx for _, _, tx in tw.db.wallets.transactions if tx.kind == "debit"]
    assert sorted(-tx.amount for tx in debits) == sorted(e.credits_burned for e in tw.data.ledger)
    credits = await wallet.credits_of(user, tw.clock.now())
    assert (credits.balance, credits.reserved) == (100 - burned, 0)


async def test_the_supervisor_round_sweeps_what_a_dead_process_left_reserved(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    send, wallet = wired(tw, RetryingLlm())
    started = await send.start(user, session, "@ada hi")  # allocated, its opening hold taken; never run
    assert started.context is not None
    assert (await wallet.credits_of(user, tw.clock.now())).reserved > 0
    supervise = SuperviseTurns(tw.turns, tw.recovery(), tw.run_turn(), SequentialTurnRunner(), tw.clock, wallet)
    await supervise.sweep()
    assert (await wallet.credits_of(user, tw.clock.now())).reserved > 0  # its turn still heartbeats
    tw.clock.advance(60)  # ... and then its process dies
    assert await supervise.sweep() == 1
    assert (await wallet.credits_of(user, tw.clock.now())).reserved == 0


async def test_running_out_is_a_402_never_a_written_turn_whose_first_call_is_refused(tw: TurnWorld) -> None:
    # The opening hold is the first call's worst case with its history: as the session grows, the
    # turn that can no longer afford it is refused before anything is written.
    user, _, session = await tw.room_with("ada")
    send, wallet = wired(tw, tw.llm)
    note = AuditNote(id=uuid.uuid4(), actor_id=None, action="set_cap", at=tw.clock.now())
    await MemoryAdminStore(tw.db).set_cap(user, Decimal("1.5"), note)
    written = 0
    for i in range(40):
        try:
            turn = (await send.execute(user, session, f"@ada turn {i}: " + "tell me more. " * 150)).turn
        except InsufficientCredits:
            break
        written += 1
        assert turn.status is TurnStatus.COMPLETED, turn.steps[0].error
    else:
        raise AssertionError("the cap was never reached")
    assert written >= 3 and len(tw.data.turns) == written
    assert (await wallet.credits_of(user, tw.clock.now())).reserved == 0


async def test_summary_calls_are_reserved_and_debited_like_steps(tw: TurnWorld) -> None:
    user, _, session = await tw.room_with("ada")
    send, wallet = wired(tw, tw.llm)
    for i in range(10):  # a summary is due every 8 turns
        await send.execute(user, session, f"@ada turn {i}")
    purposes = {e.purpose for e in tw.data.ledger}
    assert "summary" in purposes, purposes
    debits = [tx for _, _, tx in tw.db.wallets.transactions if tx.kind == "debit"]
    assert sorted(-tx.amount for tx in debits) == sorted(e.credits_burned for e in tw.data.ledger if e.credits_burned)
    credits = await wallet.credits_of(user, tw.clock.now())
    assert credits.reserved == 0 and credits.balance == 100 - sum(e.credits_burned for e in tw.data.ledger)
