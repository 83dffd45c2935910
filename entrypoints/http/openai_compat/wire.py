"""The OpenAI Chat Completions wire format, as much of it as a room needs, and how a request's
messages read as Pantheon's conversation.

Requests are decoded leniently about fields Pantheon has no use for (temperature, tools, user, …):
OpenAI clients send them freely, and the room's agents decide how they answer.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from application.use_cases.converse import Exchange
from domain.errors import NotFound, ValidationFailed
from domain.model import Room

MODEL_PREFIX = "room-"


class ContentPart(msgspec.Struct, kw_only=True):
    type: str
    text: str | None = None  # parts that are not text (images, audio) carry none


class ChatMessage(msgspec.Struct, kw_only=True):
    role: Annotated[str, Meta(max_length=50)]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool | None = None


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    model: Annotated[str, Meta(min_length=1, max_length=200)]
    messages: Annotated[list[ChatMessage], Meta(min_length=1, max_length=10_000)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(msgspec.Struct, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str = ""


class Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class ChatCompletion(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelCard(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "pantheon"
    name: str | None = None


class ModelList(msgspec.Struct, kw_only=True):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def model_card(room: Room) -> ModelCard:
    return ModelCard(id=f"{MODEL_PREFIX}{room.id}", created=int(room.created_at.timestamp()), name=room.name)


def room_id_of(model: str) -> UUID:
    """`room-<room_id>` → the room's id; anything else is a model that does not exist (404)."""
    try:
        if model.startswith(MODEL_PREFIX):
            return UUID(model.removeprefix(MODEL_PREFIX))
    except ValueError:
        pass
    raise NotFound(f"The model {model[:200]!r} does not exist; GET /v1/models lists this key's rooms.")


def conversation_of(messages: list[ChatMessage]) -> tuple[list[Exchange], str]:
    """(the exchanges answered before, the message to send now) of a request's messages.

    The last message must be the user's. An earlier user message counts as asked and answered when
    an assistant message with text follows it directly: one that got no answer (say it was refused
    with 422) was never a turn. System and other messages are not part of a room's conversation (its
    agents have their own prompts).
    """
    if messages[-1].role != "user":
        raise ValidationFailed(
            "The last message must be the user's: it is what the room answers.",
            extra=[{"key": "messages", "source": "body"}],
        )
    said = [m for m in messages[:-1] if m.role in ("user", "assistant")]
    earlier = [
        Exchange(user=asked.text, assistant=answer.text)
        for asked, answer in pairwise(said)
        if asked.role == "user" and answer.role == "assistant" and answer.text.strip()
    ]
    return earlier, messages[-1].text


def usage_of(input_tokens: int, output_tokens: int) -> Usage:
    """A turn's tokens (every call of it, retries included) as OpenAI's usage."""
    return Usage(prompt_tokens=input_tokens, completion_tokens=output_tokens, total_tokens=input_tokens + output_tokens)
