"""Anthropic Messages API: kind = "anthropic".

POST {base_url}/messages with `x-api-key` and `anthropic-version`. System messages go in the
top-level `system` field; the rest must alternate user/assistant and start with a user turn.
Usage: input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens (all prompt
tokens, as the ledger counts them); cached = cache_read_input_tokens.

A request with a `response_format` (the manager's decision) offers one tool whose `input_schema` is
the format's schema and forces it with `tool_choice`; the answer is the tool call's input, as JSON
text: streamed as `input_json_delta` pieces, or a `tool_use` block's `input` in a plain JSON body.
A forced tool call comes without a text block and a free-text request offers no tool, so the answer
is simply every text piece and tool input, in order. (`structured_output` does not apply here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from adapters.llm import codes
from adapters.llm.attempt import ProviderFault, fault_from_error_object
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.dialect import BodyReading, StreamState, decode_object, interrupted
from adapters.llm.http_llm import HttpLlm
from adapters.llm.sse import SseEvent
from adapters.llm.usage import ReportedUsage, as_count
from application.ports.llm import ChatMessage, LlmRequest, ResponseFormat

ANTHROPIC_VERSION = "2023-06-01"
# The API rejects a conversation that does not open with a user turn; this stands in for one.
_OPENING_USER_TURN = "(continuing the conversation)"


class AnthropicDialect:
    request_id_headers = ("request-id", "x-request-id", "x-litellm-call-id")

    def __init__(self, provider: ProviderConfig) -> None:
        """Nothing of `provider` tunes this wire format: a JSON answer is always a forced tool call."""

    def url(self, base_url: str) -> str:
        return f"{base_url}/messages"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"accept": "text/event-stream, application/json", "anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(self, request: LlmRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model.provider_model,
            "max_tokens": request.max_output_tokens,
            "messages": conversation(request.messages),
            "stream": True,
        }
        system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
        if system:
            body["system"] = system
        if request.response_format is not None:
            body |= forced_tool(request.response_format)
        return body

    def stream_reader(self) -> AnthropicStreamReader:
        return AnthropicStreamReader()

    def read_body(self, payload: Any) -> BodyReading:
        if payload.get("type") == "error" or "error" in payload:
            raise fault_from_error_object(payload.get("error"))
        blocks = payload.get("content")
        if not isinstance(blocks, list):
            raise ProviderFault(codes.PROVIDER_BAD_RESPONSE, "the response has no content list")
        text = "".join(_block_text(block) for block in blocks if isinstance(block, dict))
        figures = _UsageFigures()
        figures.merge(payload.get("usage"), with_output=True)
        message_id = payload.get("id")
        return BodyReading(
            text=text, usage=figures.reported(), request_id=message_id if isinstance(message_id, str) else None
        )


def forced_tool(fmt: ResponseFormat) -> dict[str, Any]:
    """The body fields asking for one JSON object of `fmt.schema` (a `type: object` schema, as tools need)."""
    tool = {
        "name": fmt.name,
        "description": f"Give your answer as the {fmt.name} object, by calling this tool.",
        "input_schema": fmt.schema,
    }
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": fmt.name}}


def _block_text(block: dict[str, Any]) -> str:
    """A content block's part of the answer: a text block's text, a tool call's input as JSON text."""
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    if block.get("type") == "tool_use" and isinstance(block.get("input"), dict):
        return msgspec.json.encode(block["input"]).decode()
    return ""  # thinking and future block types are not the answer


def conversation(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """User/assistant turns only, consecutive same-role messages merged, opening with a user turn."""
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system" or not message.content:
            continue  # system text travels separately; empty blocks are rejected by the API
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": _OPENING_USER_TURN})
    return turns


class AnthropicStreamReader:
    def __init__(self) -> None:
        self.state = StreamState()
        self._figures = _UsageFigures()

    def read(self, event: SseEvent) -> str:
        data = decode_object(event.data, f"a {event.event or 'stream'} event")
        kind = data.get("type") or event.event
        if kind == "error":
            raise fault_from_error_object(data.get("error"))
        if kind == "message_start":
            message = data.get("message") if isinstance(data.get("message"), dict) else {}
            message_id = message.get("id")
            self.state.request_id = message_id if isinstance(message_id, str) else None
            # message_start's output_tokens is a placeholder (1): take output only from message_delta. Some
            # relays (LiteLLM) also send input_tokens 0 here and the real count in message_delta: an
            # all-zero input is no figure at all, so a stream that breaks before message_delta estimates it.
            usage = message.get("usage")
            if isinstance(usage, dict) and not any(usage.get(f) for f in _UsageFigures.INPUT_FIELDS):
                usage = None
            self._figures.merge(usage, with_output=False)
            self.state.usage = self._figures.reported()
        elif kind == "content_block_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                return text if isinstance(text, str) else ""
            if isinstance(delta, dict) and delta.get("type") == "input_json_delta":
                # The forced tool's input, piece by piece: the answer's text like text deltas are. It
                # goes to on_delta like them too (the decision calls that force a tool pass none).
                piece = delta.get("partial_json")
                return piece if isinstance(piece, str) else ""
        elif kind == "message_delta":
            self._figures.merge(data.get("usage"), with_output=True)
            self.state.usage = self._figures.reported()
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.state.stop_seen = True
        elif kind == "message_stop":
            self.state.finished = True
        # ping, content_block_start/stop and future event types carry no text.
        return ""

    def check_end(self) -> None:
        if not (self.state.finished or self.state.stop_seen):
            raise interrupted("message_stop")


class _UsageFigures:
    """Anthropic usage objects folded together, keeping the latest non-null figure of each field."""

    INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")

    def __init__(self) -> None:
        self._input_parts: dict[str, int] = {}
        self._output: int | None = None

    def merge(self, raw: Any, *, with_output: bool) -> None:
        if not isinstance(raw, dict):
            return
        for field in self.INPUT_FIELDS:
            if (count := as_count(raw.get(field))) is not None:
                self._input_parts[field] = count
        if with_output and (output := as_count(raw.get("output_tokens"))) is not None:
            self._output = output

    def reported(self) -> ReportedUsage:
        if not self._input_parts:
            return ReportedUsage(output_tokens=self._output)
        return ReportedUsage(
            input_tokens=sum(self._input_parts.values()),
            cached_input_tokens=self._input_parts.get("cache_read_input_tokens", 0),
            output_tokens=self._output,
        )


class AnthropicLlm(HttpLlm):
    dialect_type = AnthropicDialect
