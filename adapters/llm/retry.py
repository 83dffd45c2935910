"""The retry loop shared by the HTTP adapters, and its policy.

Semantics (docs/design.md: `max_retries` counts retries, so attempts = 1 + max_retries):
- retried: 429 (status rate_limited; waits the provider's Retry-After, capped at 60 s), 5xx and
  408, connect errors (no ledger row: the request never reached the provider), read timeouts and
  the per-attempt deadline, a stream cut before its end marker, and error objects sent inside a 200
  unless they say the request itself is wrong.
- not retried: other 4xx (provider_rejected) and unusable responses (provider_bad_response: a
  wrong content type or malformed JSON is a misconfiguration more often than a blip).
- a stream that fails after text was already pushed to `on_delta` is retried only when the observer
  takes that text back (`retract_deltas`: nobody has seen it yet); otherwise a retry would show the
  reader two answers glued together. Before the first delta the partial text is simply discarded.
- otherwise the wait is exponential backoff with full jitter: rand() x min(8 s, 0.5 s x 2^n).

Each attempt's call_id is fixed before it is sent: the first attempt that reaches the provider uses
`request.first_call_id` (recorded by the caller beforehand), later ones a fresh uuid4. An id is only
consumed by an attempt that reached the provider, so ids stay unique and the first row always
carries the caller's id.

A `cancel` (a `now` stop) ends the call: before an attempt is sent, nothing is sent; during one, the
attempt cuts its connection and comes back `cancelled` with what arrived; no retry follows; during the
wait before a retry, the wait ends at once and nothing more is sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from adapters.llm.attempt import AttemptOutcome
from application.ports.llm import AttemptObserver, CallCancel, LlmResult

Sleep = Callable[[float], Awaitable[None]]
Rand = Callable[[], float]


def new_call_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    def delay_s(self, retry_number: int, outcome: AttemptOutcome, rand: Rand) -> float:
        """Wait before retry number `retry_number` (0 = the first retry)."""
        if outcome.retry_after_s is not None:
            return min(outcome.retry_after_s, self.max_retry_after_s)
        return rand() * min(self.max_delay_s, self.base_delay_s * 2**retry_number)


async def run_with_retries(
    attempt: Callable[[], Awaitable[AttemptOutcome]],
    *,
    first_call_id: str,
    policy: RetryPolicy,
    sleep: Sleep,
    rand: Rand,
    make_call_id: Callable[[], str] = new_call_id,
    observer: AttemptObserver | None = None,
    cancel: CallCancel | None = None,
) -> LlmResult:
    attempts = []
    call_id = first_call_id
    for retry_number in range(policy.max_retries + 1):
        if cancel is not None and cancel.cancelled:
            return LlmResult(text="", attempts=attempts, stopped=True)
        if observer is not None:
            await observer.attempt_started(call_id)
        outcome = await attempt()
        if outcome.reached_provider:
            attempts.append(outcome.to_attempt(call_id))
            if observer is not None:
                await observer.attempt_finished(attempts[-1])
            call_id = make_call_id()  # the next attempt's id exists before it is sent
        if outcome.status == "cancelled":
            return LlmResult(text=outcome.text, attempts=attempts, stopped=True)
        if outcome.error is None:
            return LlmResult(text=outcome.text, attempts=attempts)
        if not outcome.retryable or retry_number == policy.max_retries:
            break
        if outcome.delivered_text and not (observer is not None and await observer.retract_deltas()):
            break  # readers may have seen this attempt's text: a retry would glue two answers together
        await _wait(sleep, policy.delay_s(retry_number, outcome, rand), cancel)
    return LlmResult(text="", attempts=attempts, error=outcome.error)


async def _wait(sleep: Sleep, seconds: float, cancel: CallCancel | None) -> None:
    """The pause before a retry (up to a provider's Retry-After), cut short by a `now` stop."""
    if cancel is None:
        await sleep(seconds)
        return
    waiting, sleeping = asyncio.ensure_future(cancel.wait()), asyncio.ensure_future(sleep(seconds))
    try:
        await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
        sleeping.cancel()


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the provider asked us to wait: `retry-after-ms`, or Retry-After as seconds or HTTP-date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
