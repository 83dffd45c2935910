"""OpenAI chat-completions specifics: the request we send and the details of the stream we read."""

from __future__ import annotations

import pytest

from adapters.llm import codes
from adapters.llm.attempt import ProviderFault
from adapters.llm.openai import OpenAiStreamReader
from adapters.llm.sse import SseEvent
from application.manager import DECISION_FORMAT
from domain.decisions import DECISION_SCHEMA
from domain.turns import TokenUsage
from tests.support.llm_servers import OPENAI, FakeUsage, OpenAiServer, json_reply, sse_reply
from tests.unit.llm.helpers import API_KEY, make_request


async def test_request_carries_model_messages_stream_options_and_bearer_key(adapter_factory):
    async with OpenAiServer() as server:
        server.script(OPENAI.stream(["ok"]))
        await adapter_factory("openai", server.base_url).stream(make_request(max_output_tokens=321))

    [received] = server.requests
    assert received.method == "POST" and received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.json() == {
        "model": "fake/model-1",
        "messages": [
            {"role": "system", "content": "You are a careful historian."},
            {"role": "user", "content": "What caused the fall of Rome?"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 321,
    }


async def test_no_authorization_header_without_a_key(adapter_factory):
    async with OpenAiServer() as server:
        server.script(OPENAI.stream(["ok"]))
        await adapter_factory("openai", server.base_url, api_key=None).stream(make_request())

    assert "authorization" not in server.requests[0].headers


async def test_request_id_header_wins_over_chunk_id(adapter_factory):
    async with OpenAiServer() as server:
        server.script(OPENAI.stream(["ok"], chunk_id="gen-1", headers={"x-request-id": "req-abc"}))
        result = await adapter_factory("openai", server.base_url).stream(make_request())

    assert result.attempts[0].request_id == "req-abc"


async def test_comments_multiline_data_and_finish_without_done_are_accepted(adapter_factory):
    multi_line_chunk = 'data: {"id": "gen-7", "choices": [{"index": 0,\ndata: "delta": {"content": "Hi"}}]}\n\n'
    events = [
        ": OPENROUTER PROCESSING\n\n",
        multi_line_chunk,
        'data: {"id": "gen-7", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
    ]
    async with OpenAiServer() as server:
        server.script(sse_reply(events))
        result = await adapter_factory("openai", server.base_url).stream(make_request())

    assert result.ok and result.text == "Hi"
    assert result.attempts[0].usage_estimated  # the usage chunk never came


async def test_empty_choices_without_content_is_a_bad_response(adapter_factory):
    async with OpenAiServer() as server:
        server.script(json_reply({"id": "x", "choices": [], "usage": OPENAI.usage(FakeUsage(input=3, output=0))}))
        result = await adapter_factory("openai", server.base_url).stream(make_request())

    assert result.error is not None and result.error.code == codes.PROVIDER_BAD_RESPONSE


def test_usage_only_chunk_sets_usage_and_openrouter_numeric_rate_limit_code_maps():
    reader = OpenAiStreamReader()
    usage_chunk = '{"id": "g", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}'
    assert reader.read(SseEvent(event="", data=usage_chunk)) == ""
    assert reader.state.usage.input_tokens == 9 and reader.state.usage.cached_input_tokens is None

    with pytest.raises(ProviderFault) as raised:
        reader.read(SseEvent(event="", data='{"error": {"code": 429, "message": "Rate limit exceeded"}}'))
    assert raised.value.status == "rate_limited" and raised.value.code == codes.PROVIDER_RATE_LIMITED


async def test_stream_without_usage_then_null_usage_fields_is_estimated(adapter_factory):
    events = [
        'data: {"id": "a", "choices": [{"index": 0, "delta": {"content": "Yo"}, "finish_reason": "stop"}],'
        ' "usage": null}\n\n',
        "data: [DONE]\n\n",
    ]
    async with OpenAiServer() as server:
        server.script(sse_reply(events))
        result = await adapter_factory("openai", server.base_url).stream(make_request())

    assert result.ok and result.attempts[0].usage_estimated
    assert result.attempts[0].usage != TokenUsage()


@pytest.mark.parametrize(
    ("structured_output", "expected"),
    [
        (
            "json_schema",
            {
                "type": "json_schema",
                "json_schema": {"name": "decision", "schema": DECISION_SCHEMA, "strict": True},
            },
        ),
        ("json_object", {"type": "json_object"}),
        ("prompt", None),
    ],
)
async def test_a_response_format_is_asked_for_as_the_provider_structured_output_says(
    adapter_factory, structured_output, expected
):
    answer = '{"action": "finish", "agent_key": null, "instruction": null, "reason": "done"}'
    async with OpenAiServer() as server:
        server.script(OPENAI.stream([answer[:20], answer[20:]]))
        adapter = adapter_factory("openai", server.base_url, structured_output=structured_output)
        result = await adapter.stream(make_request(response_format=DECISION_FORMAT))

    body = server.requests[0].json()
    assert body.get("response_format") == expected
    assert ("response_format" in body) == (expected is not None)
    assert {k: v for k, v in body.items() if k != "response_format"} == {
        "model": "fake/model-1",
        "messages": [
            {"role": "system", "content": "You are a careful historian."},
            {"role": "user", "content": "What caused the fall of Rome?"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 256,
    }
    assert result.ok and result.text == answer  # the message content is the JSON object text


@pytest.mark.parametrize("structured_output", ["json_object", "prompt"])
async def test_a_free_text_request_never_carries_a_response_format(adapter_factory, structured_output):
    async with OpenAiServer() as server:
        server.script(OPENAI.stream(["ok"]))
        await adapter_factory("openai", server.base_url, structured_output=structured_output).stream(make_request())

    assert "response_format" not in server.requests[0].json()
