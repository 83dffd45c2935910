"""What one attempt against a provider produced, before the retry loop turns it into a ledger row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.llm import codes
from application.ports.llm import AttemptStatus, LlmAttempt
from domain.turns import StepError, TokenUsage

DETAIL_LIMIT = 500

# Anthropic error types (and OpenAI-style codes) that say the request itself is wrong: retrying is futile.
_CLIENT_ERROR_TYPES = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "not_found_error", "request_too_large"}
)


def truncate(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProviderFault(Exception):
    """The provider answered, but with an error or something unusable. Raised by response parsers."""

    def __init__(self, code: str, detail: str, *, status: AttemptStatus = "error", retryable: bool = False) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = truncate(detail)
        self.status: AttemptStatus = status
        self.retryable = retryable


def fault_from_error_object(error: Any) -> ProviderFault:
    """An `{"error": {...}}` body or Anthropic `error` event that came with HTTP 200."""
    error = error if isinstance(error, Mapping) else {"message": str(error)}
    kind = str(error.get("type") or error.get("code") or "error")
    message = str(error.get("message") or "no message")
    code = error.get("code")
    # Proxies relay the upstream HTTP status as the code, as a number or as a string (LiteLLM: "429").
    numeric_code = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
    if "rate_limit" in kind or "throttl" in kind or numeric_code == 429:
        return ProviderFault(codes.PROVIDER_RATE_LIMITED, f"{kind}: {message}", status="rate_limited", retryable=True)
    client_error = kind in _CLIENT_ERROR_TYPES or (numeric_code is not None and 400 <= numeric_code < 500)
    return ProviderFault(codes.PROVIDER_ERROR, f"{kind}: {message}", retryable=not client_error)


@dataclass(frozen=True, kw_only=True)
class AttemptOutcome:
    status: AttemptStatus
    latency_ms: int
    # False when the request never reached the provider (connect error): no ledger row, nothing billed.
    reached_provider: bool = True
    text: str = ""
    usage: TokenUsage = field(default_factory=TokenUsage)
    usage_estimated: bool = False
    request_id: str | None = None
    error: StepError | None = None
    retryable: bool = False
    delivered_text: bool = False  # some text went to on_delta: a retry needs it taken back first
    retry_after_s: float | None = None  # the provider's own Retry-After, when it sent one

    def to_attempt(self, call_id: str) -> LlmAttempt:
        return LlmAttempt(
            call_id=call_id,
            status=self.status,
            usage=self.usage,
            latency_ms=self.latency_ms,
            request_id=self.request_id,
            usage_estimated=self.usage_estimated,
            error=self.error,
        )
