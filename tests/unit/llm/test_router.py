"""Routing by provider, the not-configured answer, and the client factory."""

from __future__ import annotations

import httpx

from adapters.llm import codes
from adapters.llm.anthropic import AnthropicLlm
from adapters.llm.catalog import load_catalog
from adapters.llm.catalog_types import ProviderConfig
from adapters.llm.openai import OpenAiCompatibleLlm
from adapters.llm.router import LlmRouter, build_llm_clients
from adapters.llm.simulated import SimulatedLlm
from tests.support.llm_servers import OPENAI, OpenAiServer
from tests.unit.llm.helpers import make_request


def spec_request(catalog, alias: str):
    spec = catalog.spec(alias)
    assert spec is not None
    return make_request(provider=spec.provider, alias=alias, provider_model=spec.provider_model)


async def test_routes_simulated_aliases():
    catalog = load_catalog(None, {})
    router = LlmRouter(catalog, {"simulated": SimulatedLlm()})

    result = await router.stream(spec_request(catalog, "sim"))

    assert result.ok and result.text


async def test_provider_without_key_answers_not_configured_without_attempts():
    catalog = load_catalog(None, {})
    router, http_clients = build_llm_clients(catalog)

    result = await router.stream(spec_request(catalog, "deepseek"))

    assert result.error is not None and result.error.code == codes.PROVIDER_NOT_CONFIGURED
    assert "OPENROUTER_API_KEY" in result.error.detail
    assert result.attempts == [] and result.text == ""
    assert http_clients == []


async def test_unknown_alias_answers_not_configured():
    router = LlmRouter(load_catalog(None, {}), {"simulated": SimulatedLlm()})
    result = await router.stream(make_request(provider="simulated", alias="ghost"))
    assert result.error is not None and result.error.code == codes.PROVIDER_NOT_CONFIGURED


async def test_factory_builds_one_http_client_per_available_http_provider(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[providers.claude]\nkind = "anthropic"\nbase_url = "https://api.anthropic.com/v1"\n')
    catalog = load_catalog(str(config), {"OPENROUTER_API_KEY": "sk-x"})
    seen: list[ProviderConfig] = []

    def factory(provider: ProviderConfig) -> httpx.AsyncClient:
        seen.append(provider)
        return httpx.AsyncClient()

    router, http_clients = build_llm_clients(catalog, factory)
    try:
        assert sorted(p.name for p in seen) == ["claude", "openrouter"]
        assert len(http_clients) == 2
        clients = router._clients
        assert isinstance(clients["openrouter"], OpenAiCompatibleLlm)
        assert isinstance(clients["claude"], AnthropicLlm)
        assert isinstance(clients["simulated"], SimulatedLlm)
        assert "sk-x" not in repr(clients)
    finally:
        for client in http_clients:
            await client.aclose()


async def test_router_reaches_a_configured_http_provider_with_the_key_from_env(tmp_path):
    async with OpenAiServer() as server:
        config = tmp_path / "c.toml"
        config.write_text(
            f'[providers.local]\nkind = "openai"\nbase_url = "{server.base_url}"\napi_key_env = "LOCAL_KEY"\n'
            '[models.loc]\nprovider = "local"\nprovider_model = "tiny"\n'
        )
        catalog = load_catalog(str(config), {"LOCAL_KEY": "k-123"})
        router, http_clients = build_llm_clients(catalog)
        server.script(OPENAI.stream(["hello"]))
        try:
            result = await router.stream(spec_request(catalog, "loc"))
        finally:
            for client in http_clients:
                await client.aclose()

    assert result.ok and result.text == "hello"
    assert server.requests[0].headers["authorization"] == "Bearer k-123"
    assert server.requests[0].json()["model"] == "tiny"
