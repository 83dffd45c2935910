"""What an HTTP provider protocol (OpenAI chat completions, Anthropic Messages) must supply.

A dialect builds the request and reads responses; the shared `HttpAttempt` does the HTTP, timeouts,
status classification and bookkeeping, so each protocol module is only about its wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from adapters.llm import codes
from adapters.llm.attempt import ProviderFault
from adapters.llm.sse import SseEvent
from adapters.llm.usage import ReportedUsage
from application.ports.llm import LlmRequest


@dataclass
class StreamState:
    usage: ReportedUsage = field(default_factory=ReportedUsage)
    request_id: str | None = None
    finished: bool = False  # the end marker ([DONE], message_stop) arrived: stop reading
    stop_seen: bool = False  # a final stop reason arrived: a clean end of stream after it is complete


@dataclass(frozen=True)
class BodyReading:
    """A non-streamed (plain JSON) answer."""

    text: str
    usage: ReportedUsage
    request_id: str | None


class StreamReader(Protocol):
    state: StreamState

    def read(self, event: SseEvent) -> str:
        """The text delta this event carries ("" for none). Raises ProviderFault for error events."""
        ...

    def check_end(self) -> None:
        """Called when the stream ended: raises ProviderFault unless it is a whole answer."""
        ...


class Dialect(Protocol):
    # Where a provider names its id for the request, first found wins (proxies add their own header).
    request_id_headers: tuple[str, ...]

    def url(self, base_url: str) -> str: ...

    def headers(self, api_key: str | None) -> dict[str, str]: ...

    def body(self, request: LlmRequest) -> dict[str, Any]: ...

    def stream_reader(self) -> StreamReader: ...

    def read_body(self, payload: Any) -> BodyReading:
        """Read a JSON body. Raises ProviderFault for error objects or bodies without an answer."""
        ...


def decode_object(data: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ProviderFault(codes.PROVIDER_BAD_RESPONSE, f"malformed JSON in {what}: {data[:200]!r}") from None
    if not isinstance(value, dict):
        raise ProviderFault(codes.PROVIDER_BAD_RESPONSE, f"{what} is not a JSON object: {data[:200]!r}")
    return value


def interrupted(marker: str) -> ProviderFault:
    return ProviderFault(codes.PROVIDER_STREAM_INTERRUPTED, f"the stream ended before {marker}", retryable=True)
