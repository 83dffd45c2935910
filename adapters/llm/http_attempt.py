"""One attempt of an HTTP LLM call: send, classify the answer, stream the text, account the usage.

Never raises for provider trouble: every outcome, including transport errors, becomes an AttemptOutcome.
A `cancel` that fires while the attempt runs cancels the exchange task: the response is closed before
its body ended, so httpx drops the connection (it cannot be reused) and the provider sees it close and
stops generating; the attempt comes back `cancelled` with the text and usage that arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import httpx

from adapters.llm import codes
from adapters.llm.attempt import AttemptOutcome, ProviderFault, truncate
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.dialect import Dialect, decode_object
from adapters.llm.retry import retry_after_s
from adapters.llm.sse import iter_sse
from adapters.llm.usage import ReportedUsage, failed_usage, settle_usage
from application.ports.llm import AttemptStatus, CallCancel, DeltaSink, LlmRequest
from domain.turns import StepError

ApiKeySource = Callable[[], str | None]
_JSON_TYPES = ("application/json",)
_EVENT_STREAM = "text/event-stream"


class HttpAttempt:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        dialect: Dialect,
        provider: ProviderConfig,
        request: LlmRequest,
        api_key: ApiKeySource,
        on_delta: DeltaSink | None,
        cancel: CallCancel | None = None,
    ) -> None:
        self._http = http
        self._cancel = cancel
        self._dialect = dialect
        self._provider = provider
        self._request = request
        self._api_key = api_key
        self._on_delta = on_delta
        self._reader = dialect.stream_reader()
        self._parts: list[str] = []
        self._delivered = False  # some text already went to on_delta (so no retry, see retry.py)
        self._header_request_id: str | None = None
        self._started = 0.0

    async def run(self) -> AttemptOutcome:
        self._started = time.monotonic()
        deadline_s = self._provider.attempt_deadline_s
        try:
            async with asyncio.timeout(deadline_s):
                if self._cancel is None:
                    return await self._exchange()
                return await self._exchange_unless_cancelled(self._cancel)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return self._unreachable(f"cannot connect to {self._provider.name}: {exc}", retryable=True)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return self._unreachable(f"bad URL for {self._provider.name}: {exc}", retryable=False)
        except httpx.TimeoutException:
            detail = f"no data from {self._provider.name} for {self._provider.timeout_s:g} s"
            return self._failed(codes.PROVIDER_TIMEOUT, detail, status="timeout", retryable=True)
        except TimeoutError:
            detail = f"{self._provider.name} did not finish within the {deadline_s:g} s attempt deadline"
            return self._failed(codes.PROVIDER_TIMEOUT, detail, status="timeout", retryable=True)
        except httpx.TransportError as exc:
            detail = f"connection to {self._provider.name} broke: {type(exc).__name__}: {exc}"
            return self._failed(codes.PROVIDER_STREAM_INTERRUPTED, detail, retryable=True)
        except ProviderFault as fault:
            return self._failed(fault.code, fault.detail, status=fault.status, retryable=fault.retryable)

    async def _exchange_unless_cancelled(self, cancel: CallCancel) -> AttemptOutcome:
        exchange = asyncio.ensure_future(self._exchange())
        stop = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({exchange, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not exchange.done():
                # The `finally` of the exchange closes the half-read response, and with it the connection.
                exchange.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await exchange
        if not exchange.cancelled():
            return exchange.result()  # it ended first (or failed: the caller classifies the exception)
        return self._cancelled()

    async def _exchange(self) -> AttemptOutcome:
        http_request = self._http.build_request(
            "POST",
            self._dialect.url(self._provider.base_url or ""),
            headers=self._dialect.headers(self._api_key()),
            json=self._dialect.body(self._request),
        )
        response = await self._http.send(http_request, stream=True)
        try:
            self._header_request_id = next(
                (response.headers[h] for h in self._dialect.request_id_headers if h in response.headers), None
            )
            if not response.is_success:
                await response.aread()
                return self._refused(response)
            media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type == _EVENT_STREAM:
                return await self._read_stream(response)
            if media_type in _JSON_TYPES or media_type.endswith("+json"):
                return await self._read_json(response)
            raise ProviderFault(
                codes.PROVIDER_BAD_RESPONSE,
                f"unexpected content type {media_type or 'none'!r} from {self._provider.name}",
            )
        finally:
            await response.aclose()

    async def _read_stream(self, response: httpx.Response) -> AttemptOutcome:
        async for event in iter_sse(response.aiter_lines()):
            delta = self._reader.read(event)
            if delta:
                await self._emit(delta)
            if self._reader.state.finished:
                break
        self._reader.check_end()
        return self._succeeded("".join(self._parts), self._reader.state.usage, self._reader.state.request_id)

    async def _read_json(self, response: httpx.Response) -> AttemptOutcome:
        payload = decode_object(await response.aread(), "the response body")
        reading = self._dialect.read_body(payload)
        if reading.text:
            await self._emit(reading.text)  # streaming consumers still see the answer
        return self._succeeded(reading.text, reading.usage, reading.request_id)

    async def _emit(self, delta: str) -> None:
        self._parts.append(delta)
        if self._on_delta is not None:
            self._delivered = True
            await self._on_delta(delta)

    def _latency_ms(self) -> int:
        return round((time.monotonic() - self._started) * 1000)

    def _request_id(self, body_id: str | None = None) -> str | None:
        return self._header_request_id or body_id or self._reader.state.request_id

    def _succeeded(self, text: str, reported: ReportedUsage, body_request_id: str | None) -> AttemptOutcome:
        usage, estimated = settle_usage(reported, self._request.messages, text)
        return AttemptOutcome(
            status="success",
            latency_ms=self._latency_ms(),
            text=text,
            usage=usage,
            usage_estimated=estimated,
            request_id=self._request_id(body_request_id),
        )

    def _cancelled(self) -> AttemptOutcome:
        """Cut by a `now` stop: the provider's usage when the stream carried it, estimates filling the gaps."""
        partial = "".join(self._parts)
        usage, estimated = settle_usage(self._reader.state.usage, self._request.messages, partial)
        return AttemptOutcome(
            status="cancelled",
            latency_ms=self._latency_ms(),
            text=partial,
            usage=usage,
            usage_estimated=estimated,
            request_id=self._request_id(),
        )

    def _refused(self, response: httpx.Response) -> AttemptOutcome:
        """A non-2xx answer: the provider turned the request down, so nothing was generated (usage 0)."""
        code, status, retryable = _classify_status(response.status_code)
        message = _provider_message(response)
        return AttemptOutcome(
            status=status,
            latency_ms=self._latency_ms(),
            request_id=self._request_id(),
            error=StepError(code=code, detail=self._redact(f"HTTP {response.status_code}: {message}")),
            retryable=retryable,
            retry_after_s=retry_after_s(response.headers) if retryable else None,
        )

    def _failed(self, code: str, detail: str, *, status: AttemptStatus = "error", retryable: bool) -> AttemptOutcome:
        partial = "".join(self._parts)
        usage, estimated = failed_usage(self._reader.state.usage, self._request.messages, partial)
        if partial:
            detail = f"{detail}; partial output discarded: {truncate(partial)}"
        return AttemptOutcome(
            status=status,
            latency_ms=self._latency_ms(),
            usage=usage,
            usage_estimated=estimated,
            request_id=self._request_id(),
            error=StepError(code=code, detail=self._redact(detail)),
            retryable=retryable,
            delivered_text=self._delivered,
        )

    def _unreachable(self, detail: str, *, retryable: bool) -> AttemptOutcome:
        return AttemptOutcome(
            status="error",
            latency_ms=self._latency_ms(),
            reached_provider=False,
            error=StepError(code=codes.PROVIDER_UNREACHABLE, detail=self._redact(detail)),
            retryable=retryable,
        )

    def _redact(self, detail: str) -> str:
        # Providers sometimes echo credentials in error messages; a step error must never carry one.
        key = self._api_key()
        return detail.replace(key, "[redacted]") if key else detail


def _classify_status(status_code: int) -> tuple[str, AttemptStatus, bool]:
    """(error code, attempt status, retryable) for a non-2xx HTTP status."""
    if status_code == 429:
        return codes.PROVIDER_RATE_LIMITED, "rate_limited", True
    if status_code == 408:
        return codes.PROVIDER_TIMEOUT, "timeout", True
    if status_code >= 500:
        return codes.PROVIDER_ERROR, "error", True
    return codes.PROVIDER_REJECTED, "error", False


def _provider_message(response: httpx.Response) -> str:
    """The provider's own words: `error.message` from a JSON error body, else the start of the body."""
    text = response.text
    try:
        payload = decode_object(text, "the error body")
    except ProviderFault:
        return truncate(text.strip() or response.reason_phrase, 300)
    error = payload.get("error")
    if isinstance(error, dict) and error.get("message"):
        return truncate(str(error["message"]), 300)
    if isinstance(error, str):
        return truncate(error, 300)
    return truncate(text.strip(), 300)
