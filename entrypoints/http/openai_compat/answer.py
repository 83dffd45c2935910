"""A turn as OpenAI's answer: one assistant message holding every shown step (domain/transcript.py),
whole when the turn has finished, or as `chat.completion.chunk` deltas while it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec

from application.ports.events import TurnEvent
from domain.transcript import STEP_SEPARATOR, failure_line, heading, shown, transcript
from domain.turns import Turn
from entrypoints.http.openai_compat.wire import AssistantMessage, ChatCompletion, Choice, usage_of

_encoder = msgspec.json.Encoder()


def completion_id(turn_id: UUID) -> str:
    return f"chatcmpl-{turn_id.hex}"


def completion(turn: Turn, model: str) -> ChatCompletion:
    return ChatCompletion(
        id=completion_id(turn.id),
        created=int(turn.created_at.timestamp()),
        model=model,
        choices=[Choice(message=AssistantMessage(content=transcript(turn.steps)))],
        usage=usage_of(turn.usage.input_tokens, turn.usage.output_tokens),
    )


class AnswerText:
    """Reads a turn's events in order and says what each adds to the answer's text, so that the
    text streamed is the text `transcript` gives for the finished turn."""

    def __init__(self) -> None:
        self._headings: dict[int, str] = {}  # shown steps that started, by index
        self._said: set[int] = set()  # steps whose heading went out
        self._any = False

    def add(self, event: TurnEvent) -> str:
        data = event.data
        if event.type == "step_started" and shown(data["kind"]):
            self._headings[data["index"]] = heading(data["agent_name"] or "", data["agent_key"], data["kind"])
            return ""
        index = data.get("index")
        if index not in self._headings:
            return ""
        if event.type == "step_delta":
            return self._open(index) + data["text"]
        if event.type == "step_completed":
            error = data["error"] if data["status"] != "completed" else None
            if index in self._said:  # its text went out as it came
                return "\n" + failure_line(error["code"], error["detail"]) if error else ""
            text = self._open(index) + data["content"]
            if error:
                text += ("\n" if data["content"] else "") + failure_line(error["code"], error["detail"])
            return text
        return ""

    def _open(self, index: int) -> str:
        if index in self._said:
            return ""
        self._said.add(index)
        text = (STEP_SEPARATOR if self._any else "") + self._headings[index]
        self._any = True
        return text


def chunk(turn_id: UUID, created: int, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    return _encoder.encode(
        {
            "id": completion_id(turn_id),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
    ).decode()


def usage_chunk(turn_id: UUID, created: int, model: str, usage: dict[str, Any]) -> str:
    shown_usage = msgspec.to_builtins(usage_of(usage["input_tokens"], usage["output_tokens"]))
    return _encoder.encode(
        {
            "id": completion_id(turn_id),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": shown_usage,
        }
    ).decode()


def error_data(code: str, detail: str) -> str:
    """A turn that could not run, said inside the stream as OpenAI's clients read it (they raise)."""
    return _encoder.encode({"error": {"message": detail, "type": "server_error", "code": code, "param": None}}).decode()


async def chunks(
    events: AsyncIterator[TurnEvent | None], turn_id: UUID, created: int, model: str, include_usage: bool
) -> AsyncIterator[str | None]:
    """The `data:` payloads of the streamed answer, from the turn's events (None: nothing happened for a
    while, passed on as a keep-alive); ends with `[DONE]`."""
    text = AnswerText()
    yield chunk(turn_id, created, model, {"role": "assistant", "content": ""})
    async for event in events:
        if event is None:
            yield None
            continue
        if event.type == "turn_failed":
            error = event.data["error"]
            yield error_data(error["code"], error["detail"])
            return
        if event.type == "turn_completed":
            yield chunk(turn_id, created, model, {}, finish="stop")
            if include_usage:
                yield usage_chunk(turn_id, created, model, event.data["turn"]["usage"])
            yield "[DONE]"
            return
        piece = text.add(event)
        if piece:
            yield chunk(turn_id, created, model, {"content": piece})
    # No terminal event: the stream's time bound, or the database failed under the turn (it goes on).
    yield error_data(
        "service_unavailable", "The answer's stream ended before the turn did; read the turn named by X-Pantheon-Turn."
    )
