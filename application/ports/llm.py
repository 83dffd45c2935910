"""The LLM port: what a turn needs from a model provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import msgspec

from domain.model import ModelSpec
from domain.turns import StepError, TokenUsage

DEFAULT_MAX_OUTPUT_TOKENS = 2048  # the output limit a request sends, and the output part of its worst case
AttemptStatus = Literal["success", "error", "timeout", "rate_limited", "cancelled"]


class ChatMessage(msgspec.Struct, frozen=True):
    role: Literal["system", "user", "assistant"]
    content: str


class ResponseFormat(msgspec.Struct, frozen=True, kw_only=True):
    """An answer that must be one JSON object of this schema (asked for as each provider allows)."""

    name: str
    schema: dict[str, Any]


class LlmRequest(msgspec.Struct, frozen=True, kw_only=True):
    model: ModelSpec
    messages: list[ChatMessage]
    # call_id of the first attempt, generated (and recorded) by the caller before the call.
    first_call_id: str
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    response_format: ResponseFormat | None = None  # None: free text


class LlmAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt that reached the provider: it becomes exactly one ledger row."""

    call_id: str
    status: AttemptStatus
    usage: TokenUsage
    latency_ms: int
    request_id: str | None = None
    # True when the provider reported no usage and the figures are a local estimate.
    usage_estimated: bool = False
    error: StepError | None = None


class LlmResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a call with its retries. `error` is None exactly when `text` is the answer, or
    (`stopped`) the part of it that arrived before the call was cancelled."""

    text: str
    attempts: list[LlmAttempt]
    error: StepError | None = None
    stopped: bool = False  # cancelled by a `now` stop: its last attempt, if any, is `cancelled`

    @property
    def ok(self) -> bool:
        return self.error is None and not self.stopped


DeltaSink = Callable[[str], Awaitable[None]]


class AttemptObserver(Protocol):
    """Told about each attempt as it happens, so that a crash between retries loses no paid attempt."""

    async def attempt_started(self, call_id: str) -> None:
        """Before the attempt is sent (may repeat for an id whose attempt never reached the provider)."""
        ...

    async def attempt_finished(self, attempt: LlmAttempt) -> None: ...

    async def retract_deltas(self) -> bool:
        """Take back the text the failed attempt pushed to `on_delta` before a retry; False when a reader
        may already have seen it (then the call is not retried)."""
        ...


class CallCancel(Protocol):
    """Cancels a call in flight (a `now` stop): the provider's connection is closed so that it stops
    generating, and the call ends with what arrived."""

    @property
    def cancelled(self) -> bool: ...

    async def wait(self) -> None:
        """Returns once the call is to be cancelled."""
        ...


class LlmClient(Protocol):
    async def stream(
        self,
        request: LlmRequest,
        on_delta: DeltaSink | None = None,
        observer: AttemptObserver | None = None,
        cancel: CallCancel | None = None,
    ) -> LlmResult:
        """Run the call (with the provider's retry policy), pushing text deltas as they arrive.

        Never raises for provider trouble: every failure is an `LlmResult` with `error` set and
        one `LlmAttempt` per attempt that reached the provider. When `cancel` fires, the attempt in
        flight is cut (its connection closed) and recorded as `cancelled` with its partial text and
        usage (the provider's figures when the stream carried them, else estimated); no retry follows;
        the result is `stopped`, its text the partial answer.
        """
        ...
