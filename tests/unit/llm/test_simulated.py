"""The simulated provider: deterministic, chunked, realistic usage, a deliberate failure marker."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import msgspec

from adapters.llm import codes
from adapters.llm.estimate import estimate_input_tokens
from adapters.llm.simulated import CLOCK_MARKER, ECHO_MARKER, FAIL_MARKER, SimulatedLlm, decide
from application.manager import DECISION_FORMAT, manager_messages
from application.ports.llm import ChatMessage
from application.ports.turns import TurnContext
from domain.budget import estimate_tokens
from domain.decisions import CallAgent, Finish, decode_decision
from domain.model import Mode
from domain.turns import RosterEntry, StepKind, StepStatus, StepUsage, TurnStep
from tests.unit.llm.helpers import FIRST_CALL_ID, DeltaRecorder, SleepRecorder, make_request


def sim_request(role: str = "You are a skeptical economist.", question: str = "Should we raise prices?", slow=False):
    return make_request(
        provider="simulated",
        alias="sim-slow" if slow else "sim",
        provider_model="pantheon-sim-slow" if slow else "pantheon-sim",
        messages=[ChatMessage(role="system", content=role), ChatMessage(role="user", content=question)],
    )


async def test_same_prompt_same_answer_different_agent_different_answer():
    llm = SimulatedLlm()
    first = await llm.stream(sim_request())
    again = await llm.stream(sim_request())
    other_agent = await llm.stream(sim_request(role="You are an optimistic marketer."))

    assert first.ok and first.text == again.text
    assert first.attempts[0].request_id == again.attempts[0].request_id
    assert first.attempts[0].request_id.startswith("sim-")
    assert other_agent.text != first.text
    assert "skeptical economist" in first.text and "Should we raise prices" in first.text
    assert 30 <= len(first.text.split()) <= 80


async def test_answer_streams_in_chunks_that_join_to_the_text():
    deltas = DeltaRecorder()
    result = await SimulatedLlm().stream(sim_request(), deltas)

    assert len(deltas.deltas) > 5
    assert "".join(deltas.deltas) == result.text
    assert all(1 <= len(d.split()) <= 3 for d in deltas.deltas)


async def test_the_clock_marker_stamps_each_chunk_with_the_time_it_was_handed_over():
    import re
    import time

    deltas = DeltaRecorder()
    before = time.time_ns()
    result = await SimulatedLlm().stream(sim_request(role=f"You time things. {CLOCK_MARKER}"), deltas)
    after = time.time_ns()

    stamps = [int(re.match(r"\[t=(\d+)\]", d).group(1)) for d in deltas.deltas]  # type: ignore[union-attr]
    assert len(stamps) == len(deltas.deltas) > 5 and before <= stamps[0] <= stamps[-1] <= after
    assert stamps == sorted(stamps) and "".join(deltas.deltas) == result.text


async def test_usage_and_attempt():
    request = sim_request()
    result = await SimulatedLlm().stream(request)

    [attempt] = result.attempts
    assert attempt.call_id == FIRST_CALL_ID and attempt.status == "success" and not attempt.usage_estimated
    assert attempt.usage.input_tokens == estimate_input_tokens(request.messages) > 0
    assert attempt.usage.cached_input_tokens == 0
    assert attempt.usage.output_tokens == estimate_tokens(result.text)


async def test_failure_marker_in_a_system_message_fails_the_call():
    request = sim_request(role=f"You are a tester. {FAIL_MARKER}")
    deltas = DeltaRecorder()
    result = await SimulatedLlm().stream(request, deltas)

    assert not result.ok and result.text == "" and deltas.deltas == []
    assert result.error is not None and result.error.code == codes.SIMULATED_FAILURE
    [attempt] = result.attempts
    assert attempt.status == "error" and attempt.call_id == FIRST_CALL_ID
    assert attempt.usage.input_tokens == estimate_input_tokens(request.messages) and attempt.usage.output_tokens == 0


async def test_failure_marker_in_a_user_message_is_ignored():
    result = await SimulatedLlm().stream(sim_request(question=f"What does {FAIL_MARKER} do?"))
    assert result.ok


async def test_sim_slow_waits_between_chunks_and_sim_does_not():
    sleeps = SleepRecorder()
    llm = SimulatedLlm(slow_chunk_delay_s=0.001, sleep=sleeps)

    deltas = DeltaRecorder()
    await llm.stream(sim_request(slow=True), deltas)
    assert sleeps.delays == [0.001] * len(deltas.deltas)  # one pause per chunk

    sleeps.delays.clear()
    await llm.stream(sim_request(), DeltaRecorder())
    assert sleeps.delays == []


async def test_sim_slow_really_sleeps_with_the_default_sleep():
    llm = SimulatedLlm(slow_chunk_delay_s=0.001)
    result = await llm.stream(sim_request(slow=True))
    assert result.ok


def manager_context(message: str, goal: str | None = None) -> TurnContext:
    roster = [
        RosterEntry(agent_key=key, name=key.title(), model="sim", role_prompt=f"You are {key}.", position=i)
        for i, key in enumerate(("ada", "bob", "cy"))
    ]
    return TurnContext(
        turn_id=uuid4(),
        user_id=uuid4(),
        room_id=uuid4(),
        session_id=uuid4(),
        turn_index=0,
        mode=Mode.ORCHESTRATOR,
        user_message=message,
        room_goal=goal,
        roster=roster,
        plan=[],
        pricing_version="2026-02-20",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
        manager_model="sim",
    )


def decisions_of(message: str, goal: str | None = None) -> list[str]:
    """Every decision the sim manager takes in a turn, each answer carried out as the engine would."""
    turn, earlier, made = manager_context(message, goal), [], []
    while len(made) < 20:
        text = decide(manager_messages(turn, earlier))
        made.append(text)
        decision = decode_decision(text)
        step = TurnStep(
            index=len(earlier), kind=StepKind.MANAGER, agent_key=None, agent_name="Manager", model="sim",
            status=StepStatus.COMPLETED, content="", error=None, usage=StepUsage(), decision=decision,
        )  # fmt: skip
        earlier.append(step)
        if isinstance(decision, Finish):
            return made
        answer = TurnStep(
            index=len(earlier), kind=StepKind.AGENT, agent_key=decision.agent_key, agent_name="x", model="sim",
            status=StepStatus.COMPLETED, content="ok", error=None, usage=StepUsage(), instruction=decision.instruction,
        )  # fmt: skip
        earlier.append(answer)
    raise AssertionError("the sim manager never finished")


def test_the_sim_manager_calls_the_tagged_agents_in_order_and_as_often_with_what_each_is_asked():
    made = [decode_decision(d) for d in decisions_of("@bob, check the numbers; then @ada; then @bob again, reply.")]
    assert made == [
        CallAgent(agent_key="bob", instruction="Check the numbers"),
        CallAgent(agent_key="ada", instruction="Give your view on: @bob, check the numbers; then @ada; then @bob…"),
        CallAgent(agent_key="bob", instruction="Reply"),
        Finish(reason="Every agent asked has answered."),
    ]


def test_the_sim_manager_calls_every_agent_once_without_tags_and_ignores_unknown_ones():
    keys = [decode_decision(d) for d in decisions_of("What now, @nobody?")]
    assert [k.agent_key for k in keys if isinstance(k, CallAgent)] == ["ada", "bob", "cy"]


async def test_the_sim_manager_rehearses_invalid_output_from_the_rooms_goal():
    def first_answer(goal: str, refused: tuple[str, str] | None = None) -> str:
        return decide(manager_messages(manager_context("@ada go", goal), [], refused))

    assert not first_answer("x <<pantheon-sim:bad-decision>>").startswith("{")
    repaired = first_answer("x <<pantheon-sim:bad-decision>>", ("free text", "not a valid decision object"))
    assert decode_decision(repaired) == CallAgent(agent_key="ada", instruction="Go")
    assert not first_answer("x <<pantheon-sim:bad-decisions>>", ("free text", "why")).startswith("{")
    # Through the provider too: a request with a response format gets a decision, priced like any call.
    request = msgspec.structs.replace(
        make_request(
            provider="simulated",
            alias="sim",
            provider_model="pantheon-sim",
            messages=manager_messages(manager_context("@cy hi"), []),
        ),
        response_format=DECISION_FORMAT,
    )  # fmt: skip
    result = await SimulatedLlm().stream(request)
    assert decode_decision(result.text) == CallAgent(agent_key="cy", instruction="Hi")
    assert result.attempts[0].usage.output_tokens == estimate_tokens(result.text)


async def test_the_echo_marker_answers_the_users_message_verbatim_in_chunks():
    hostile = "Look: <img src=x onerror=alert(1)> and [x](javascript:alert(1))\n\n- one\n- two\n\n```\ncode\n```"
    deltas = DeltaRecorder()
    result = await SimulatedLlm().stream(sim_request(role=f"You repeat. {ECHO_MARKER}", question=hostile), deltas)

    assert result.ok and result.text == hostile
    assert len(deltas.deltas) > 1 and "".join(deltas.deltas) == hostile
    assert result.attempts[0].usage.output_tokens == estimate_tokens(hostile)
