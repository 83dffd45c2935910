"""Helpers for the LLM adapter tests: requests, recorders of sleeps and deltas, call-id checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.llm.http_llm import HttpLlm
from application.ports.llm import ChatMessage, LlmAttempt, LlmRequest, ResponseFormat
from domain.model import ModelSpec

FIRST_CALL_ID = "call-first-0001"
API_KEY = "sk-test-secret-value-123"


def make_request(
    *,
    provider: str = "fake",
    alias: str = "fake-model",
    provider_model: str = "fake/model-1",
    messages: list[ChatMessage] | None = None,
    max_output_tokens: int = 256,
    response_format: ResponseFormat | None = None,
) -> LlmRequest:
    return LlmRequest(
        model=ModelSpec(alias=alias, provider=provider, provider_model=provider_model, context_window=8192),
        messages=messages
        or [
            ChatMessage(role="system", content="You are a careful historian."),
            ChatMessage(role="user", content="What caused the fall of Rome?"),
        ],
        first_call_id=FIRST_CALL_ID,
        max_output_tokens=max_output_tokens,
        response_format=response_format,
    )


@dataclass
class SleepRecorder:
    """Stands in for asyncio.sleep: records the waits, never waits."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class DeltaRecorder:
    deltas: list[str] = field(default_factory=list)

    async def __call__(self, delta: str) -> None:
        self.deltas.append(delta)


def assert_attempt_ids(attempts: list[LlmAttempt]) -> None:
    ids = [attempt.call_id for attempt in attempts]
    assert ids[0] == FIRST_CALL_ID
    assert len(set(ids)) == len(ids)


# Builds an adapter: factory(kind, base_url, *, api_key=..., **ProviderConfig settings).
AdapterFactory = Callable[..., HttpLlm]
