"""Behaviour shared by both HTTP adapters, run against loopback fakes of each protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.llm import codes
from adapters.llm.estimate import estimate_input_tokens
from domain.budget import estimate_tokens
from domain.turns import TokenUsage
from tests.support.llm_servers import (
    AnthropicServer,
    FakeUsage,
    OpenAiServer,
    ScriptedLlmServer,
    json_reply,
    sse_reply,
    status_reply,
    text_reply,
    unused_port,
)
from tests.unit.llm.helpers import (
    API_KEY,
    FIRST_CALL_ID,
    AdapterFactory,
    DeltaRecorder,
    SleepRecorder,
    assert_attempt_ids,
    make_request,
)

PIECES = ["The fall ", "of Rome ", "had many ", "causes."]
TEXT = "".join(PIECES)


@pytest.fixture(params=["openai", "anthropic"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[ScriptedLlmServer]:
    server_class = OpenAiServer if request.param == "openai" else AnthropicServer
    async with server_class() as running:
        yield running


def adapter_for(server: ScriptedLlmServer, factory: AdapterFactory, **settings: object):
    return factory(server.kit.kind, server.base_url, **settings)


async def test_normal_stream_pushes_deltas_in_order_and_reports_usage(server, adapter_factory):
    server.script(server.kit.stream(PIECES, usage=FakeUsage(input=120, output=9), chunk_id="gen-42"))
    deltas = DeltaRecorder()

    result = await adapter_for(server, adapter_factory).stream(make_request(), deltas)

    assert result.ok and result.text == TEXT
    assert deltas.deltas == PIECES
    [attempt] = result.attempts
    assert attempt.call_id == FIRST_CALL_ID and attempt.status == "success"
    assert attempt.usage == TokenUsage(input_tokens=120, cached_input_tokens=0, output_tokens=9)
    assert not attempt.usage_estimated
    assert attempt.request_id == "gen-42"
    assert attempt.latency_ms >= 0


async def test_cached_tokens_are_part_of_input(server, adapter_factory):
    server.script(server.kit.stream(PIECES, usage=FakeUsage(input=1000, cached=800, output=9)))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    [attempt] = result.attempts
    assert attempt.usage == TokenUsage(input_tokens=1000, cached_input_tokens=800, output_tokens=9)
    assert attempt.usage.fresh_input_tokens == 200


async def test_missing_usage_is_estimated_and_flagged(server, adapter_factory):
    server.script(server.kit.stream(PIECES, usage=None))
    request = make_request()

    result = await adapter_for(server, adapter_factory).stream(request)

    [attempt] = result.attempts
    assert result.ok and attempt.usage_estimated
    assert attempt.usage.input_tokens == estimate_input_tokens(request.messages) > 0
    assert attempt.usage.output_tokens == estimate_tokens(TEXT) > 0


async def test_rate_limit_waits_retry_after_then_succeeds(server, adapter_factory, sleeps: SleepRecorder):
    server.script(
        status_reply(429, "slow down", headers={"retry-after": "1"}),
        server.kit.stream(PIECES, usage=FakeUsage(input=50, output=9)),
    )

    result = await adapter_for(server, adapter_factory).stream(make_request())

    assert result.ok and result.text == TEXT
    assert [a.status for a in result.attempts] == ["rate_limited", "success"]
    assert_attempt_ids(result.attempts)
    assert result.attempts[0].usage == TokenUsage()  # refused outright: nothing billed
    assert result.attempts[0].error is not None
    assert result.attempts[0].error.code == codes.PROVIDER_RATE_LIMITED
    assert sleeps.delays == [1.0]


async def test_server_errors_exhaust_retries(server, adapter_factory, sleeps: SleepRecorder):
    server.script(*(status_reply(500, "upstream exploded") for _ in range(3)))

    result = await adapter_for(server, adapter_factory, max_retries=2).stream(make_request())

    assert not result.ok and result.text == ""
    assert result.error is not None and result.error.code == codes.PROVIDER_ERROR
    assert "upstream exploded" in result.error.detail
    assert [a.status for a in result.attempts] == ["error", "error", "error"]
    assert_attempt_ids(result.attempts)
    assert sleeps.delays == [0.25, 0.5]  # full jitter with rand() = 0.5: 0.5 x 0.5 s, 0.5 x 1 s
    assert len(server.requests) == 3


async def test_read_timeout_mid_stream_after_deltas_is_not_retried(server, adapter_factory):
    server.script(server.kit.stream(PIECES, pause_after=2, pause_s=1.0), server.kit.stream(PIECES))
    deltas = DeltaRecorder()
    request = make_request()

    result = await adapter_for(server, adapter_factory, timeout_s=0.15).stream(request, deltas)

    assert result.error is not None and result.error.code == codes.PROVIDER_TIMEOUT
    assert result.text == ""
    [attempt] = result.attempts  # the reader already saw text: a retry would glue two answers
    assert attempt.status == "timeout" and attempt.call_id == FIRST_CALL_ID
    assert "The fall of Rome" in result.error.detail
    assert attempt.usage_estimated
    assert attempt.usage.input_tokens == estimate_input_tokens(request.messages)
    assert attempt.usage.output_tokens == estimate_tokens("The fall of Rome ")


async def test_read_timeout_without_delta_sink_is_retried_and_partial_text_discarded(server, adapter_factory):
    server.script(server.kit.stream(["Abandoned ", "draft "], pause_after=1, pause_s=1.0), server.kit.stream(PIECES))

    result = await adapter_for(server, adapter_factory, timeout_s=0.15).stream(make_request())

    assert result.ok and result.text == TEXT
    assert [a.status for a in result.attempts] == ["timeout", "success"]
    assert_attempt_ids(result.attempts)
    assert "Abandoned" in (result.attempts[0].error.detail if result.attempts[0].error else "")


async def test_attempt_deadline_stops_a_trickling_stream(server, adapter_factory):
    pieces = [f"w{i} " for i in range(20)]
    trickle = server.kit.stream(pieces, pause_after=1, pause_s=0.5)

    server.script(trickle)
    result = await adapter_for(server, adapter_factory, timeout_s=5, deadline_s=0.2, max_retries=0).stream(
        make_request()
    )

    assert result.error is not None and result.error.code == codes.PROVIDER_TIMEOUT
    assert "deadline" in result.error.detail
    assert [a.status for a in result.attempts] == ["timeout"]


@pytest.mark.parametrize("cut", [False, True], ids=["clean-close", "dropped-connection"])
async def test_stream_ending_before_its_end_marker_is_interrupted(server, adapter_factory, cut: bool):
    server.script(server.kit.stream(PIECES[:2], finish=False, done=False, cut=cut))

    result = await adapter_for(server, adapter_factory, max_retries=0).stream(make_request(), DeltaRecorder())

    assert result.error is not None and result.error.code == codes.PROVIDER_STREAM_INTERRUPTED
    assert "The fall of Rome" in result.error.detail
    [attempt] = result.attempts
    assert attempt.status == "error" and attempt.call_id == FIRST_CALL_ID
    assert attempt.usage_estimated and attempt.usage.output_tokens > 0


async def test_malformed_json_chunk_is_a_bad_response(server, adapter_factory):
    server.script(sse_reply(["event: content_block_delta\ndata: {not json\n\n"]))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_BAD_RESPONSE
    assert [a.status for a in result.attempts] == ["error"]  # not retried
    assert result.attempts[0].call_id == FIRST_CALL_ID


async def test_wrong_content_type_is_a_bad_response(server, adapter_factory):
    server.script(text_reply("<html>captive portal</html>"))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_BAD_RESPONSE
    assert "text/html" in result.error.detail
    assert [a.status for a in result.attempts] == ["error"]


async def test_error_object_in_a_200_body_is_a_provider_error(server, adapter_factory):
    server.script(json_reply(server.kit.error_body("api_error", "internal hiccup")))

    result = await adapter_for(server, adapter_factory, max_retries=0).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_ERROR
    assert "internal hiccup" in result.error.detail
    [attempt] = result.attempts
    assert attempt.status == "error" and attempt.usage == TokenUsage()


async def test_error_event_first_in_a_200_stream_is_retried(server, adapter_factory, sleeps: SleepRecorder):
    server.script(server.kit.error_in_stream("overloaded_error", "busy"), server.kit.stream(PIECES))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    assert result.ok and result.text == TEXT
    assert [a.status for a in result.attempts] == ["error", "success"]
    assert result.attempts[0].error is not None and result.attempts[0].error.code == codes.PROVIDER_ERROR
    assert_attempt_ids(result.attempts)
    assert len(sleeps.delays) == 1


async def test_rate_limit_error_inside_a_200_maps_to_rate_limited(server, adapter_factory):
    server.script(server.kit.error_in_stream("rate_limit_error", "too many tokens"))

    result = await adapter_for(server, adapter_factory, max_retries=0).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_RATE_LIMITED
    assert [a.status for a in result.attempts] == ["rate_limited"]


async def test_bad_request_is_rejected_without_retry(server, adapter_factory, sleeps: SleepRecorder):
    server.script(status_reply(400, "max_tokens is too large"))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_REJECTED
    assert "max_tokens is too large" in result.error.detail and "400" in result.error.detail
    [attempt] = result.attempts
    assert attempt.status == "error" and attempt.call_id == FIRST_CALL_ID and attempt.usage == TokenUsage()
    assert sleeps.delays == []


async def test_api_key_echoed_by_the_provider_is_redacted(server, adapter_factory):
    server.script(status_reply(401, f"Incorrect API key provided: {API_KEY}"))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_REJECTED
    assert API_KEY not in result.error.detail and "[redacted]" in result.error.detail


async def test_connection_refused_leaves_no_attempt(adapter_factory, sleeps: SleepRecorder):
    base_url = f"http://127.0.0.1:{unused_port()}/v1"
    for kind in ("openai", "anthropic"):
        sleeps.delays.clear()
        adapter = adapter_factory(kind, base_url, max_retries=2)

        result = await adapter.stream(make_request())

        assert result.error is not None and result.error.code == codes.PROVIDER_UNREACHABLE
        assert result.attempts == []
        assert len(sleeps.delays) == 2  # connect errors are retried too


async def test_non_streamed_json_answer_is_accepted(server, adapter_factory):
    server.script(json_reply(server.kit.body(TEXT, FakeUsage(input=70, cached=20, output=9))))
    deltas = DeltaRecorder()

    result = await adapter_for(server, adapter_factory).stream(make_request(), deltas)

    assert result.ok and result.text == TEXT
    assert deltas.deltas == [TEXT]
    [attempt] = result.attempts
    assert attempt.status == "success" and attempt.call_id == FIRST_CALL_ID
    assert attempt.usage == TokenUsage(input_tokens=70, cached_input_tokens=20, output_tokens=9)
    assert attempt.request_id in {"chatcmpl-json", "msg_json"}


async def test_non_streamed_json_without_usage_is_estimated(server, adapter_factory):
    server.script(json_reply(server.kit.body(TEXT, None)))

    result = await adapter_for(server, adapter_factory).stream(make_request())

    [attempt] = result.attempts
    assert result.ok and attempt.usage_estimated and attempt.usage.output_tokens == estimate_tokens(TEXT)
