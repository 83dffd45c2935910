"""Fixtures for the LLM adapter tests: a sleep recorder and adapters wired to fake servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.llm.anthropic import AnthropicLlm
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.http_llm import HttpLlm
from adapters.llm.openai import OpenAiCompatibleLlm
from adapters.llm.router import default_http_client
from tests.unit.llm.helpers import API_KEY, AdapterFactory, SleepRecorder


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def adapter_factory(sleeps: SleepRecorder) -> AsyncIterator[AdapterFactory]:
    """Builds an adapter of `kind` for `base_url`; closes every httpx client at teardown."""
    http_clients: list[httpx.AsyncClient] = []

    def build(kind: str, base_url: str, *, api_key: str | None = API_KEY, **settings: object) -> HttpLlm:
        provider = ProviderConfig(name="fake", kind=kind, base_url=base_url, **settings)  # type: ignore[arg-type]
        http = default_http_client(provider)
        http_clients.append(http)
        adapter = AnthropicLlm if kind == "anthropic" else OpenAiCompatibleLlm
        return adapter(provider, http, lambda: api_key, sleep=sleeps, rand=lambda: 0.5)

    yield build
    for http in http_clients:
        await http.aclose()
