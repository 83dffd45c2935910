"""A small Server-Sent Events decoder (the subset LLM providers use).

Handles `event:` and multi-line `data:` fields, `:` comments and blank-line dispatch. An event not
terminated by a blank line before the stream ends is dropped, as the SSE spec says: it may be cut.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SseEvent:
    event: str  # "" when the server named no event type
    data: str


class SseDecoder:
    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its line ending); return an event when a blank line completes it."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment, e.g. OpenRouter's ": OPENROUTER PROCESSING" keep-alives
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        # `id:` and `retry:` only matter for browser reconnection; ignore them and unknown fields.
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(event=self._event, data="\n".join(self._data))
        self._event, self._data = "", []
        return event


async def iter_sse(lines: AsyncIterable[str]) -> AsyncIterator[SseEvent]:
    decoder = SseDecoder()
    async for line in lines:
        event = decoder.feed(line.rstrip("\r\n"))
        if event is not None:
            yield event
