"""The simulated provider: deterministic, chunked, realistic usage, a deliberate failure marker."""

from __future__ import annotations

from adapters.llm import codes
from adapters.llm.estimate import estimate_input_tokens
from adapters.llm.simulated import FAIL_MARKER, SimulatedLlm
from application.ports.llm import ChatMessage
from domain.budget import estimate_tokens
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
