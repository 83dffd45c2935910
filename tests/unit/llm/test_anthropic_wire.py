"""Anthropic Messages specifics: headers, system/conversation shaping, usage folding."""

from __future__ import annotations

import json

from adapters.llm.anthropic import ANTHROPIC_VERSION, AnthropicStreamReader, conversation
from adapters.llm.sse import SseEvent
from application.ports.llm import ChatMessage
from tests.support.llm_servers import ANTHROPIC, AnthropicServer
from tests.unit.llm.helpers import API_KEY, make_request


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
