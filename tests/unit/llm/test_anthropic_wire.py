"""Anthropic Messages specifics: headers, system/conversation shaping, usage folding."""

from __future__ import annotations

import json

import pytest

from adapters.llm.anthropic import ANTHROPIC_VERSION, AnthropicDialect, AnthropicStreamReader, conversation
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.sse import SseEvent
from application.manager import DECISION_FORMAT
from application.ports.llm import ChatMessage
from domain.decisions import DECISION_SCHEMA, CallAgent, Finish, decode_decision
from tests.support.llm_servers import ANTHROPIC, AnthropicServer, FakeUsage, json_reply
from tests.unit.llm.helpers import API_KEY, DeltaRecorder, make_request


async def test_request_headers_and_body_shape(adapter_factory):
    messages = [
        ChatMessage(role="system", content="Global rules."),
        ChatMessage(role="system", content="You are a poet."),
        ChatMessage(role="user", content="Hi"),
        ChatMessage(role="user", content="Write a haiku."),
    ]
    async with AnthropicServer() as server:
        server.script(ANTHROPIC.stream(["ok"], headers={"request-id": "req_01"}))
        result = await adapter_factory("anthropic", server.base_url).stream(
            make_request(messages=messages, max_output_tokens=99)
        )

    [received] = server.requests
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == API_KEY
    assert received.headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "authorization" not in received.headers
    assert received.json() == {
        "model": "fake/model-1",
        "max_tokens": 99,
        "messages": [{"role": "user", "content": "Hi\n\nWrite a haiku."}],
        "stream": True,
        "system": "Global rules.\n\nYou are a poet.",
    }
    assert result.attempts[0].request_id == "req_01"


def test_conversation_merges_roles_and_opens_with_a_user_turn():
    messages = [
        ChatMessage(role="system", content="sys"),
        ChatMessage(role="assistant", content="Earlier answer."),
        ChatMessage(role="assistant", content="Another."),
        ChatMessage(role="user", content="Next question?"),
    ]
    turns = conversation(messages)
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == "Earlier answer.\n\nAnother."
    assert conversation([ChatMessage(role="system", content="only system")])[0]["role"] == "user"


def _event(payload: dict) -> SseEvent:
    return SseEvent(event=payload["type"], data=json.dumps(payload))


def test_usage_folds_start_and_delta_keeping_latest_non_null_figures():
    reader = AnthropicStreamReader()
    start_usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 5,
        "output_tokens": 1,
    }
    reader.read(_event({"type": "message_start", "message": {"id": "msg_9", "usage": start_usage}}))
    assert reader.state.usage.output_tokens is None  # the start's output figure is a placeholder
    reader.read(
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"input_tokens": 12, "cache_read_input_tokens": None, "output_tokens": 30},
            }
        )
    )
    usage = reader.state.usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (117, 100, 30)
    assert reader.state.request_id == "msg_9" and reader.state.stop_seen


def test_thinking_deltas_are_not_answer_text():
    reader = AnthropicStreamReader()
    thinking = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}
    text = {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Answer"}}
    assert reader.read(_event(thinking)) == ""
    assert reader.read(_event(text)) == "Answer"


DECISION_JSON = '{"action": "call_agent", "agent_key": "ada", "instruction": "Weigh the costs.", "reason": null}'


@pytest.mark.parametrize("structured_output", ["json_schema", "json_object", "prompt"])
async def test_a_response_format_is_a_forced_tool_whatever_structured_output_says(adapter_factory, structured_output):
    async with AnthropicServer() as server:
        server.script(ANTHROPIC.tool_stream("decision", [DECISION_JSON]))
        adapter = adapter_factory("anthropic", server.base_url, structured_output=structured_output)
        await adapter.stream(make_request(response_format=DECISION_FORMAT))

    body = server.requests[0].json()
    [tool] = body.pop("tools")
    assert tool["name"] == "decision" and tool["input_schema"] == DECISION_SCHEMA
    assert tool["input_schema"]["type"] == "object" and tool["description"]
    assert body.pop("tool_choice") == {"type": "tool", "name": "decision"}
    assert body == {
        "model": "fake/model-1",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "What caused the fall of Rome?"}],
        "stream": True,
        "system": "You are a careful historian.",
    }


async def test_a_free_text_request_offers_no_tool(adapter_factory):
    async with AnthropicServer() as server:
        server.script(ANTHROPIC.stream(["ok"]))
        await adapter_factory("anthropic", server.base_url).stream(make_request())

    body = server.requests[0].json()
    assert "tools" not in body and "tool_choice" not in body


def test_stream_reader_assembles_the_tool_input_from_input_json_deltas():
    reader = AnthropicStreamReader()
    block = {"type": "tool_use", "id": "toolu_1", "name": "decision", "input": {}}
    assert reader.read(_event({"type": "content_block_start", "index": 0, "content_block": block})) == ""
    pieces = ['{"action": "call_', 'agent", "agent_key": "ada", ', '"instruction": "Weigh the costs.", "reason": null}']
    texts = [
        reader.read(
            _event(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": p}}
            )
        )
        for p in pieces
    ]
    assert texts == pieces
    reader.read(_event({"type": "content_block_stop", "index": 0}))
    reader.read(_event({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}))
    reader.read(_event({"type": "message_stop"}))
    reader.check_end()
    assert decode_decision("".join(texts)) == CallAgent(agent_key="ada", instruction="Weigh the costs.")


async def test_a_streamed_tool_call_is_the_answer_text_with_its_usage(adapter_factory):
    pieces = [DECISION_JSON[:17], DECISION_JSON[17:50], DECISION_JSON[50:]]
    deltas = DeltaRecorder()
    async with AnthropicServer() as server:
        server.script(ANTHROPIC.tool_stream("decision", pieces, usage=FakeUsage(input=120, cached=20, output=31)))
        result = await adapter_factory("anthropic", server.base_url).stream(
            make_request(response_format=DECISION_FORMAT), deltas
        )

    assert result.ok and result.text == DECISION_JSON
    assert deltas.deltas == pieces  # passed through like text (decision calls give no on_delta)
    usage = result.attempts[0].usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (120, 20, 31)
    assert not result.attempts[0].usage_estimated and result.attempts[0].request_id == "msg_fake_tool"


async def test_a_tool_use_block_in_a_json_body_is_the_answer_as_json_text(adapter_factory):
    tool_input = {"action": "finish", "agent_key": None, "instruction": None, "reason": "All said."}
    async with AnthropicServer() as server:
        server.script(json_reply(ANTHROPIC.tool_body("decision", tool_input, FakeUsage(input=50, output=12))))
        result = await adapter_factory("anthropic", server.base_url).stream(
            make_request(response_format=DECISION_FORMAT)
        )

    assert result.ok and json.loads(result.text) == tool_input
    assert decode_decision(result.text) == Finish(reason="All said.")
    assert result.attempts[0].usage.output_tokens == 12 and result.attempts[0].request_id == "msg_json_tool"


def test_read_body_joins_text_and_tool_input_in_block_order_and_skips_other_blocks():
    dialect = AnthropicDialect(ProviderConfig(name="fake", kind="anthropic", base_url="http://h"))
    payload = {
        "id": "msg_1",
        "content": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "Answer"},
            {"type": "tool_use", "id": "t", "name": "decision", "input": {"a": [1, None]}},
            {"type": "tool_use", "id": "u", "name": "decision", "input": "not an object"},
        ],
    }
    assert dialect.read_body(payload).text == 'Answer{"a":[1,null]}'
