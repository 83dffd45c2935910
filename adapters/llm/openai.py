"""OpenAI-compatible chat completions (OpenAI, OpenRouter, Ollama, vLLM, llama.cpp): kind = "openai".

POST {base_url}/chat/completions with `stream: true` and `stream_options.include_usage`, so the
last chunk carries the usage. A server that ignores `stream` and answers plain JSON is accepted too.

A request with a `response_format` (the manager's decision) asks for JSON as the provider's
`structured_output` setting says: `json_schema` sends the schema with `strict: true`, `json_object`
asks for any JSON object, and `prompt` adds nothing (the system prompt already asks for JSON only),
for servers that reject the field. The answer is the message content either way.
"""

from __future__ import annotations

from typing import Any

from adapters.llm import codes
from adapters.llm.attempt import ProviderFault, fault_from_error_object
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.dialect import BodyReading, StreamState, decode_object, interrupted
from adapters.llm.http_llm import HttpLlm
from adapters.llm.sse import SseEvent
from adapters.llm.usage import ReportedUsage, as_count
from application.ports.llm import LlmRequest, ResponseFormat

_DONE = "[DONE]"


class OpenAiDialect:
    request_id_headers = ("x-request-id", "x-litellm-call-id")

    def __init__(self, provider: ProviderConfig) -> None:
        self._structured_output = provider.structured_output

    def url(self, base_url: str) -> str:
        return f"{base_url}/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"accept": "text/event-stream, application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return headers

    def body(self, request: LlmRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model.provider_model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": request.max_output_tokens,
        }
        if request.response_format is not None:
            response_format = self._response_format(request.response_format)
            if response_format is not None:
                body["response_format"] = response_format
        return body

    def _response_format(self, fmt: ResponseFormat) -> dict[str, Any] | None:
        if self._structured_output == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": fmt.name, "schema": fmt.schema, "strict": True}}
        if self._structured_output == "json_object":
            return {"type": "json_object"}
        return None  # "prompt": the messages alone ask for the JSON

    def stream_reader(self) -> OpenAiStreamReader:
        return OpenAiStreamReader()

    def read_body(self, payload: Any) -> BodyReading:
        if "error" in payload:
            raise fault_from_error_object(payload["error"])
        choice = _first_choice(payload)
        if choice is None:
            raise ProviderFault(codes.PROVIDER_BAD_RESPONSE, "the response has no choices")
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        return BodyReading(
            text=content if isinstance(content, str) else "",
            usage=_usage(payload.get("usage")) or ReportedUsage(),
            request_id=_string(payload.get("id")),
        )


class OpenAiStreamReader:
    def __init__(self) -> None:
        self.state = StreamState()
        self._saw_choice = False

    def read(self, event: SseEvent) -> str:
        if event.data.strip() == _DONE:
            self.state.finished = True
            return ""
        chunk = decode_object(event.data, "a stream chunk")
        if "error" in chunk:  # OpenRouter reports mid-stream failures as a chunk with `error`
            raise fault_from_error_object(chunk["error"])
        self.state.request_id = self.state.request_id or _string(chunk.get("id"))
        usage = _usage(chunk.get("usage"))
        if usage is not None:
            self.state.usage = usage
        choice = _first_choice(chunk)
        if choice is None:
            return ""  # e.g. the final usage-only chunk, whose `choices` is empty
        self._saw_choice = True
        if choice.get("finish_reason"):
            self.state.stop_seen = True
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        return content if isinstance(content, str) else ""

    def check_end(self) -> None:
        # A finish_reason followed by a clean close is a whole answer even without [DONE]; only its
        # usage chunk may be missing, and then the usage is estimated.
        if not (self.state.finished or self.state.stop_seen):
            raise interrupted("data: [DONE]")
        if not self._saw_choice:
            raise ProviderFault(codes.PROVIDER_BAD_RESPONSE, "the stream carried no choices")


def _first_choice(payload: dict[str, Any]) -> dict[str, Any] | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _usage(raw: Any) -> ReportedUsage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = raw.get("prompt_cache_hit_tokens")  # DeepSeek's own API names it this way
    usage = ReportedUsage(
        input_tokens=as_count(raw.get("prompt_tokens")),
        cached_input_tokens=as_count(cached),
        output_tokens=as_count(raw.get("completion_tokens")),
    )
    return usage if usage.has_any else None


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class OpenAiCompatibleLlm(HttpLlm):
    dialect_type = OpenAiDialect
