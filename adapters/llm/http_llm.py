"""The LlmClient shared by the HTTP providers: one dialect, one httpx client, the retry loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx

from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.dialect import Dialect
from adapters.llm.http_attempt import ApiKeySource, HttpAttempt
from adapters.llm.retry import Rand, RetryPolicy, Sleep, new_call_id, run_with_retries
from application.ports.llm import AttemptObserver, CallCancel, DeltaSink, LlmRequest, LlmResult


def no_api_key() -> str | None:
    return None


class HttpLlm:
    """A provider's wire protocol is its `dialect`; subclasses name theirs in `dialect_type`, built
    for the provider (which may tune it, e.g. `structured_output`)."""

    dialect_type: Callable[[ProviderConfig], Dialect]

    def __init__(
        self,
        provider: ProviderConfig,
        http: httpx.AsyncClient,
        api_key: ApiKeySource = no_api_key,
        *,
        sleep: Sleep = asyncio.sleep,
        rand: Rand = random.random,
        make_call_id: Callable[[], str] = new_call_id,
    ) -> None:
        # `api_key` is a callable, read at each request, so the key value is never kept on this object.
        self._provider = provider
        self._http = http
        self._dialect = self.dialect_type(provider)
        self._api_key = api_key
        self._sleep = sleep
        self._rand = rand
        self._make_call_id = make_call_id
        self._policy = RetryPolicy(max_retries=provider.max_retries)

    @property
    def provider(self) -> ProviderConfig:
        return self._provider

    async def stream(
        self,
        request: LlmRequest,
        on_delta: DeltaSink | None = None,
        observer: AttemptObserver | None = None,
        cancel: CallCancel | None = None,
    ) -> LlmResult:
        def attempt() -> HttpAttempt:
            return HttpAttempt(
                http=self._http,
                dialect=self._dialect,
                provider=self._provider,
                request=request,
                api_key=self._api_key,
                on_delta=on_delta,
                cancel=cancel,
            )

        return await run_with_retries(
            lambda: attempt().run(),
            first_call_id=request.first_call_id,
            policy=self._policy,
            sleep=self._sleep,
            rand=self._rand,
            make_call_id=self._make_call_id,
            observer=observer,
            cancel=cancel,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self._provider.name!r})"
