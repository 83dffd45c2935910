"""Session memory on in-memory fakes with the simulated provider: summaries (when, what they cost, how
they fail), pruning, the per-call audit, and a long session that keeps its first fact."""

from __future__ import annotations

import itertools
from decimal import Decimal
from uuid import UUID

import msgspec
import pytest

from adapters.llm.simulated import BAD_SUMMARIES, BAD_SUMMARY, SUMMARY_FAILS, SimulatedLlm
from application.events import EventLog
from application.ports.llm import LlmRequest
from application.steps import TurnRun
from domain.budget import compute_budget
from domain.errors import ContextBudgetExceeded
from domain.model import Mode, ModelSpec
from domain.pricing import price_call
from domain.turns import StepStatus, Turn, TurnStatus
from tests.support.seeded import pricing_version
from tests.unit.use_cases.turn_world import TurnWorld

SMALL = ModelSpec(alias="sim-small", provider="simulated", provider_model="pantheon-sim", context_window=4096)
SMALL_BUDGET = compute_budget(SMALL.context_window).input_budget  # 2253
FACT = "Fact: the launch code is AMBER-7."


class RecordingSim(SimulatedLlm):
    """The simulated provider, keeping every request it was sent."""

    def __init__(self) -> None:
        super().__init__(slow_chunk_delay_s=0)
        self.requests: list[LlmRequest] = []

    async def stream(self, request, on_delta=None, observer=None, cancel=None):
        self.requests.append(request)
        return await super().stream(request, on_delta, observer, cancel)


@pytest.fixture
def sim(tw: TurnWorld) -> RecordingSim:
    tw.llm = RecordingSim()
    tw.catalog.replace(SMALL)
    return tw.llm


async def council(tw: TurnWorld, *keys: str, model: str = "sim", goal: str | None = None) -> tuple[UUID, UUID]:
    user = await tw.new_user_id()
    room = await tw.new_room(user, mode=Mode.ROUNDTABLE, goal=goal)
    for key in keys:
        await tw.new_agent(user, room.id, key, model=model)
    session = await tw.new_session(user, room.id)
    return user, session.id


async def talk(tw: TurnWorld, user: UUID, session: UUID, message: str) -> Turn:
    return (await tw.send().execute(user, session, message)).turn


def summary_rows(tw: TurnWorld, turn_id: UUID | None = None) -> list:
    return [e for e in tw.db.ledger if e.purpose == "summary" and (turn_id is None or e.turn_id == turn_id)]


async def test_a_summary_every_8_turns_folds_all_but_the_last_4_and_is_billed_to_its_turn(
    tw: TurnWorld, sim: RecordingSim
):
    user, session = await council(tw, "ada")
    turns = [await talk(tw, user, session, f"Topic {i}: what about part {i}?") for i in range(17)]
    assert [(s.turn_index, s.through_turn_index) for s in tw.db.summaries] == [(8, 3), (16, 11)]
    for turn in turns:
        rows = summary_rows(tw, turn.id)
        assert len(rows) == (1 if turn.turn_index in (8, 16) else 0)
        # The turn's usage counts every ledger row of the turn, its summary call's included.
        mine = [e for e in tw.db.ledger if e.turn_id == turn.id]
        assert turn.usage.llm_calls == len(mine) == 1 + len(rows)
        assert turn.usage.credits == sum((e.credits_burned for e in mine), Decimal("0.0000"))
    row = summary_rows(tw)[0]
    assert (row.step_index, row.agent_key, row.model_alias, row.status) == (None, None, "sim", "success")
    expected = price_call(pricing_version(), "sim", row.input_tokens_fresh, 0, row.output_tokens)
    assert row.credits_burned == expected.credits_burned > 0
    # After the summary, ada reads it (pinned) and the 4 raw turns after it, not the folded ones.
    prompt = sim.requests[-1].messages
    assert "Summary of the conversation so far (turns 0–11)" in prompt[0].content
    raw = [m.content for m in prompt if m.role == "user"][:-1]
    assert raw == [f"Topic {i}: what about part {i}?" for i in range(12, 16)]


async def test_the_budget_threshold_summarises_before_8_turns_and_fires_once_per_crossing(
    tw: TurnWorld, sim: RecordingSim
):
    user, session = await council(tw, "ada", "bob", model="sim-small")
    for i in range(12):
        await talk(tw, user, session, f"Point {i}: how should the council weigh option {i} against the rest?")
    written = [s.turn_index for s in tw.db.summaries]
    assert written and written[0] < 8  # the budget fired before the turn count would have
    # Each summary brings the context back under 70 %: never one turn after another.
    assert all(b - a > 1 for a, b in itertools.pairwise(written)), written
    audits = [a for a in tw.db.audits.values() if a.step_index is not None]
    assert all(a.estimated_tokens_after <= a.input_budget == SMALL_BUDGET for a in audits)
    summarised = [a for a in audits if "summarized" in a.actions]
    assert summarised and all(a.estimated_tokens_after < a.estimated_tokens_before for a in summarised)


async def test_a_60_turn_session_stays_within_budget_and_still_knows_its_first_fact(
    tw: TurnWorld, sim: RecordingSim
):
    user, session = await council(tw, "ada", "bob", model="sim-small")
    await talk(tw, user, session, "Let us plan the launch.")
    await talk(tw, user, session, f"{FACT} Keep it safe.")
    for i in range(2, 59):
        turn = await talk(tw, user, session, f"Question {i}: what is the next risk to check, and why {i}?")
        assert turn.status is TurnStatus.COMPLETED
    last = await talk(tw, user, session, "Please recall what you were told about the launch.")
    assert last.turn_index == 59 and all("AMBER-7" in s.content for s in last.steps)
    # Through the summary: turn 1's own message is long out of the raw history.
    final = sim.requests[-1].messages
    assert not any(m.role == "user" and m.content.startswith(FACT) for m in final)
    assert "AMBER-7" in final[0].content  # the pinned summary, in the system message
    for audit in tw.db.audits.values():
        assert audit.estimated_tokens_after <= audit.input_budget
    # Every call's real prompt (the simulated provider counts what it was sent) fits its budget.
    for entry in tw.db.ledger:
        assert entry.input_tokens_fresh <= SMALL_BUDGET
    agent_calls = [e for e in tw.db.ledger if e.purpose == "agent"]
    assert len(agent_calls) == 120 and 6 <= len(summary_rows(tw)) <= 30


async def test_a_refused_summary_is_repaired_once(tw: TurnWorld, sim: RecordingSim):
    user, session = await council(tw, "ada", goal=f"Plan well. {BAD_SUMMARY}")
    for i in range(9):
        await talk(tw, user, session, f"Step {i}?")
    assert [s.turn_index for s in tw.db.summaries] == [8]
    rows = summary_rows(tw)
    assert len(rows) == 2 and all(r.status == "success" for r in rows)
    repair = [r for r in sim.requests if r.response_format is not None][-1]
    assert repair.messages[-1].content.startswith("That summary was refused: the answer is not one JSON object")
    audits = [a for a in tw.db.audits.values() if a.step_index is None]
    assert len(audits) == 2 and {a.call_id for a in audits} == {r.call_id for r in rows}


async def test_a_summary_refused_twice_falls_back_to_truncation_and_the_turn_completes(
    tw: TurnWorld, sim: RecordingSim
):
    user, session = await council(tw, "ada", goal=f"Plan well. {BAD_SUMMARIES}")
    turns = [await talk(tw, user, session, f"Step {i}?") for i in range(9)]
    assert tw.db.summaries == []
    assert turns[8].status is TurnStatus.COMPLETED and turns[8].steps[0].status is StepStatus.COMPLETED
    rows = summary_rows(tw, turns[8].id)
    assert len(rows) == 2 and turns[8].usage.llm_calls == 3  # both summary calls are paid and shown
    # ada still sees every raw turn (they fit): nothing was folded, nothing lost.
    assert len([m for m in sim.requests[-1].messages if m.role == "user"]) == 9


async def test_a_failing_summariser_never_fails_the_turn(tw: TurnWorld, sim: RecordingSim):
    user, session = await council(tw, "ada", goal=f"Plan well. {SUMMARY_FAILS}")
    turns = [await talk(tw, user, session, f"Step {i}?") for i in range(9)]
    assert tw.db.summaries == [] and turns[8].status is TurnStatus.COMPLETED
    [row] = summary_rows(tw, turns[8].id)
    assert row.status == "error" and row.error_code == "simulated_failure"
    assert not tw.db.intents  # the failed call's intent went with its ledger row


async def test_an_unknown_summary_model_skips_the_summary(tw: TurnWorld, sim: RecordingSim):
    tw.summary_model = "gone"
    user, session = await council(tw, "ada")
    turns = [await talk(tw, user, session, f"Step {i}?") for i in range(9)]
    assert tw.db.summaries == [] and summary_rows(tw) == [] and turns[8].status is TurnStatus.COMPLETED


async def test_a_message_too_big_for_the_pinned_parts_is_refused_before_anything_is_billed(
    tw: TurnWorld, sim: RecordingSim
):
    user, session = await council(tw, "ada", model="sim-small")
    with pytest.raises(ContextBudgetExceeded) as info:
        await talk(tw, user, session, "word " * 2000)
    assert info.value.extra["input_budget"] == SMALL_BUDGET
    assert not tw.db.turns and not tw.db.ledger


async def test_the_pinned_summary_counts_in_the_up_front_check(tw: TurnWorld, sim: RecordingSim):
    user, session = await council(tw, "ada", model="sim-small")
    for i in range(9):
        await talk(tw, user, session, f"Step {i}?")
    [summary] = tw.db.summaries
    tw.db.summaries[0] = msgspec.structs.replace(summary, summary_text="x" * 6000)
    calls = len(tw.db.ledger)
    # 1,900 tokens of summary + this message pass the 2,253-token budget: refused up front, nothing billed.
    with pytest.raises(ContextBudgetExceeded):
        await talk(tw, user, session, "y " * 700)
    assert len(tw.db.ledger) == calls


async def test_a_resumed_turn_does_not_summarise_again(tw: TurnWorld, sim: RecordingSim):
    user, session = await council(tw, "ada")
    for i in range(8):
        await talk(tw, user, session, f"Step {i}?")
    started = await tw.send().start(user, session, "Step 8?")
    context = started.context
    assert context is not None
    run = TurnRun(context=context, events=EventLog(context, tw.events, tw.clock, 1))
    await tw.memory().prepare(run)  # the summary is committed; then the process dies
    assert len(summary_rows(tw, context.turn_id)) == 1
    await tw.resume(context)
    assert len(summary_rows(tw, context.turn_id)) == 1 and len(tw.db.summaries) == 1
    turn = await tw.turns.turn_of(user, context.turn_id)
    assert turn is not None and turn.status is TurnStatus.COMPLETED and turn.usage.llm_calls == 2


async def test_a_later_agent_whose_pinned_parts_overflow_fails_with_the_figures_and_is_not_billed(
    tw: TurnWorld, sim: RecordingSim
):
    user, session = await council(tw, "ada", "bob", model="sim-small")
    # ada fits (about 2,040 tokens of message beside her system layers); bob must also read ada's answer.
    turn = await talk(tw, user, session, "word " * 1305)
    assert turn.status is TurnStatus.PARTIAL
    ada, bob = turn.steps
    assert ada.status is StepStatus.COMPLETED and bob.status is StepStatus.FAILED
    assert bob.error is not None and bob.error.code == "context_budget_exceeded"
    assert bob.error.extra is not None
    assert bob.error.extra["agent_key"] == "bob" and bob.error.extra["input_budget"] == SMALL_BUDGET
    assert bob.error.extra["required_tokens"] > SMALL_BUDGET
    assert [e.agent_key for e in tw.db.ledger] == ["ada"]  # nothing was sent for bob


async def test_pinned_parts_are_in_every_call_however_long_the_session(tw: TurnWorld, sim: RecordingSim):
    user, session = await council(tw, "ada", "bob", model="sim-small")
    for i in range(30):
        await talk(tw, user, session, f"Question {i}: what is the next risk to check, and why {i}?")
        summarised = bool(tw.db.summaries)
        for request in [r for r in sim.requests if r.response_format is None][-2:]:
            system, *_, current = request.messages
            assert system.role == "system" and "You are " in system.content
            assert current.role == "user" and current.content.endswith(f"what is the next risk to check, and why {i}?")
            assert ("Summary of the conversation so far" in system.content) is summarised


async def test_unfolded_turns_older_than_the_read_window_show_as_history_truncated(tw: TurnWorld, sim: RecordingSim):
    user, session = await council(tw, "ada", goal=f"Plan well. {SUMMARY_FAILS}")  # no summary ever lands
    turns = [await talk(tw, user, session, f"Step {i}?") for i in range(23)]
    actions = {
        turn.turn_index: next(a.actions for a in tw.db.audits.values() if a.turn_id == turn.id and a.step_index == 0)
        for turn in turns
    }
    assert all("history_truncated" not in actions[i] for i in range(21))  # turns 0–19 are all read
    assert all("history_truncated" in actions[i] for i in (21, 22))
    assert len([m for m in sim.requests[-1].messages if m.role == "user"]) == 21  # 20 raw turns + the message


class CrashingSummariser(RecordingSim):
    """Sends the summary attempt (its intent is recorded), then breaks as a bug of our own would."""

    async def stream(self, request, on_delta=None, observer=None, cancel=None):
        if request.response_format is not None and request.response_format.name == "session_summary":
            await observer.attempt_started(request.first_call_id)
            raise RuntimeError("a bug in the summary path")
        return await super().stream(request, on_delta, observer, cancel)


async def test_a_summary_call_cut_by_our_own_crash_is_ledgered_cancelled_and_the_turn_completes(tw: TurnWorld):
    tw.llm = CrashingSummariser()
    user, session = await council(tw, "ada")
    turns = [await talk(tw, user, session, f"Step {i}?") for i in range(9)]
    assert turns[8].status is TurnStatus.COMPLETED and tw.db.summaries == []
    [row] = summary_rows(tw, turns[8].id)
    assert (row.status, row.step_index, row.credits_burned) == ("cancelled", None, Decimal("0.0000"))
    assert row.input_tokens_fresh > 0  # the estimated prompt it may have cost us
    assert not tw.db.intents  # no paid attempt is left without its row (invariant 1)
    assert turns[8].usage.llm_calls == 2


async def test_the_history_a_turn_reads_for_its_memory_is_served_by_the_cache(tw: TurnWorld, sim: RecordingSim):
    from adapters.caching import CachedHistoryStore

    reads: list[int] = []  # after_index of each read that reached the store (-1: a whole window)
    inner = tw.history

    class Counting:
        async def recent(self, session_id, *, before_index, limit, after_index=-1):
            reads.append(after_index)
            return await inner.recent(session_id, before_index=before_index, limit=limit, after_index=after_index)

    tw.history = CachedHistoryStore(Counting())  # type: ignore[assignment]
    user, session = await council(tw, "ada")
    for i in range(30):
        await talk(tw, user, session, f"Step {i}?")
    # One read per turn reaches the store (the opening hold's and the run's are one), and after the
    # first turns it asks only for the turn that came since, never the whole window again.
    assert len(reads) == 30 and reads[2:] == list(range(0, 28))
