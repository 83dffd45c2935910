"""The SSE decoder."""

from __future__ import annotations

from adapters.llm.sse import SseDecoder, SseEvent, iter_sse


def feed_all(lines: list[str]) -> list[SseEvent]:
    decoder = SseDecoder()
    return [event for line in lines if (event := decoder.feed(line)) is not None]


def test_events_comments_and_multiline_data():
    lines = [": keep-alive", "", "event: ping", "data: {}", "", "data: line one", "data:line two", "id: 7", ""]
    assert feed_all(lines) == [SseEvent("ping", "{}"), SseEvent("", "line one\nline two")]


def test_event_name_does_not_leak_into_the_next_event():
    assert feed_all(["event: a", "", "data: x", ""]) == [SseEvent("", "x")]


async def test_unterminated_last_event_is_dropped_and_crlf_is_handled():
    async def lines():
        for line in ["data: whole\r\n", "\r\n", "data: cut"]:
            yield line

    assert [event async for event in iter_sse(lines())] == [SseEvent("", "whole")]
