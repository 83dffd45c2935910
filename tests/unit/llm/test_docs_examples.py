"""Every ```toml example in the README is a config file load_catalog accepts, meaning what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.llm.catalog import load_catalog

DOC = Path(__file__).resolve().parents[3] / "README.md"
BLOCKS = re.findall(r"^```toml\n(.*?)^```", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
# Every variable an example names, set, so availability can be checked too.
ENV = {name: "test-key" for name in ("OPENROUTER_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "VLLM_API_KEY")}


def load(tmp_path: Path, text: str, env: dict[str, str] = ENV):
    path = tmp_path / "pantheon.toml"
    path.write_text(text)
    return load_catalog(str(path), env)


def test_the_doc_has_an_example_for_each_provider_it_describes() -> None:
    assert len(BLOCKS) >= 5
    text = "\n".join(BLOCKS)
    for needle in (
        'kind = "openai"',
        'kind = "anthropic"',
        "api.openai.com",
        "api.anthropic.com",
        ":11434/v1",
        "[providers.openrouter]",
        "[providers.vllm]",
        "[providers.llamacpp]",
    ):
        assert needle in text, needle


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_example_loads(tmp_path: Path, block: str) -> None:
    catalog = load(tmp_path, block)

    declared = re.findall(r"^\[models\.\"?([^\]\"]+)\"?\]", block, flags=re.MULTILINE)
    assert declared or "[providers." in block
    for alias in declared:
        spec = catalog.spec(alias)
        assert spec is not None and spec.available, alias


def test_the_examples_mean_what_the_doc_says(tmp_path: Path) -> None:
    by_provider = {}
    for block in BLOCKS:
        catalog = load(tmp_path, block)
        by_provider.update(
            {
                name: catalog.providers[name]
                for name in re.findall(r"^\[providers\.([^\]]+)\]", block, flags=re.MULTILINE)
            }
        )
        if "[models.claude-sonnet]" in block:
            assert catalog.spec("claude-sonnet").provider == "anthropic"  # re-pointed, still the seeded alias
        if "[models.llama-local]" in block:
            [override] = catalog.price_overrides()
            assert override.alias == "llama-local" and str(override.multiplier) == "0.5"

    assert (by_provider["openai"].kind, by_provider["openai"].api_key_env) == ("openai", "OPENAI_API_KEY")
    assert (by_provider["anthropic"].kind, by_provider["anthropic"].base_url) == (
        "anthropic",
        "https://api.anthropic.com/v1",
    )
    assert by_provider["ollama"].api_key_env is None and by_provider["ollama"].timeout_s == 120
    assert by_provider["openrouter"].max_retries == 4
    assert by_provider["openrouter"].base_url == "https://openrouter.ai/api/v1"  # the rest of the built-in kept


def test_without_their_keys_the_keyed_examples_are_unavailable_and_ollama_is_not(tmp_path: Path) -> None:
    for block in BLOCKS:
        catalog = load(tmp_path, block, env={})
        for name in re.findall(r"^\[providers\.([^\]]+)\]", block, flags=re.MULTILINE):
            provider = catalog.providers[name]
            assert provider.available == (provider.api_key_env is None), name
