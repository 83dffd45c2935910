"""Dispatch each call to its provider's client, and build those clients from the catalog."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import httpx

from adapters.llm import codes
from adapters.llm.anthropic import AnthropicLlm
from adapters.llm.catalog import Catalog
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.openai import OpenAiCompatibleLlm
from adapters.llm.simulated import SimulatedLlm
from application.ports.llm import AttemptObserver, CallCancel, DeltaSink, LlmClient, LlmRequest, LlmResult
from domain.turns import StepError

HttpClientFactory = Callable[[ProviderConfig], httpx.AsyncClient]


class LlmRouter:
    def __init__(self, catalog: Catalog, clients: Mapping[str, LlmClient]) -> None:
        self._catalog = catalog
        self._clients = dict(clients)

    async def stream(
        self,
        request: LlmRequest,
        on_delta: DeltaSink | None = None,
        observer: AttemptObserver | None = None,
        cancel: CallCancel | None = None,
    ) -> LlmResult:
        model = request.model
        provider = self._catalog.providers.get(model.provider)
        client = self._clients.get(model.provider)
        if model.alias not in self._catalog.models:
            return _not_configured(f"unknown model alias {model.alias!r}")
        if provider is None:
            return _not_configured(f"provider {model.provider!r} of model {model.alias!r} is not configured")
        if not provider.available:
            return _not_configured(
                f"provider {provider.name!r} of model {model.alias!r} has no API key ({provider.api_key_env} is unset)"
            )
        if client is None:
            return _not_configured(f"no client is wired for provider {provider.name!r}")
        return await client.stream(request, on_delta, observer, cancel)


def _not_configured(detail: str) -> LlmResult:
    # Nothing reached a provider, so no attempt (and no ledger row).
    return LlmResult(text="", attempts=[], error=StepError(code=codes.PROVIDER_NOT_CONFIGURED, detail=detail))


def default_http_client(provider: ProviderConfig) -> httpx.AsyncClient:
    """One pooled client per provider; no network I/O until the first request."""
    timeout = httpx.Timeout(provider.timeout_s, connect=provider.connect_timeout_s)
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, headers={"user-agent": "pantheon"})


def build_llm_clients(
    catalog: Catalog,
    http_client_factory: HttpClientFactory = default_http_client,
    *,
    sim_slow_chunk_delay_s: float = 0.15,
) -> tuple[LlmRouter, list[httpx.AsyncClient]]:
    """The router and the httpx clients the caller must close (`aclose`) at shutdown.

    Providers without their API key get no client: the router answers provider_not_configured.
    """
    clients: dict[str, LlmClient] = {}
    http_clients: list[httpx.AsyncClient] = []
    for provider in catalog.providers.values():
        if provider.kind == "simulated":
            clients[provider.name] = SimulatedLlm(slow_chunk_delay_s=sim_slow_chunk_delay_s)
            continue
        if not provider.available:
            continue
        http = http_client_factory(provider)
        http_clients.append(http)
        api_key = functools.partial(catalog.api_key, provider.name)  # read per request, never stored
        adapter = AnthropicLlm if provider.kind == "anthropic" else OpenAiCompatibleLlm
        clients[provider.name] = adapter(provider, http, api_key)
    return LlmRouter(catalog, clients), http_clients
