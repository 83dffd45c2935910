"""The catalog: built-ins, availability from env keys, TOML extensions and validation errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from adapters.llm.catalog import Catalog, CatalogError, load_catalog

SEED_ALIASES = {
    "deepseek", "llama", "qwen", "gpt_oss", "kimi", "glm", "gpt-5-mini", "gpt-4.1", "gpt-4o",
    "gpt-5", "gpt-5.2", "gemini-pro", "claude-sonnet", "grok", "claude-opus", "premium",
}  # fmt: skip
SECRET = "sk-or-very-secret-value"


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pantheon.toml"
    path.write_text(text)
    return str(path)


def test_builtins_are_present():
    catalog = load_catalog(None, {})

    assert catalog.providers["simulated"].kind == "simulated"
    assert catalog.providers["openrouter"].base_url == "https://openrouter.ai/api/v1"
    assert SEED_ALIASES | {"sim", "sim-slow"} == set(catalog.models)
    assert all(catalog.models[a].spec.provider == "openrouter" for a in SEED_ALIASES)
    specs = catalog.specs()
    assert [s.alias for s in specs] == sorted(s.alias for s in specs)
    sim = catalog.spec("sim")
    assert sim is not None and sim.available and sim.provider == "simulated"
    assert catalog.spec("nope") is None


def test_openrouter_available_only_with_its_key():
    without = load_catalog(None, {})
    with_key = load_catalog(None, {"OPENROUTER_API_KEY": SECRET})
    empty_key = load_catalog(None, {"OPENROUTER_API_KEY": ""})

    assert not without.providers["openrouter"].available
    assert without.spec("deepseek") is not None and not without.spec("deepseek").available
    assert with_key.spec("deepseek").available
    assert not empty_key.spec("deepseek").available
    assert with_key.api_key("openrouter") == SECRET
    assert without.api_key("openrouter") is None
    assert with_key.api_key("simulated") is None


def test_defaults_of_a_provider():
    provider = load_catalog(None, {}).providers["openrouter"]
    assert (provider.timeout_s, provider.connect_timeout_s, provider.max_retries) == (60.0, 10.0, 2)
    assert provider.deadline_s == 180.0


def test_toml_adds_providers_models_and_price_overrides(tmp_path: Path):
    path = write_config(
        tmp_path,
        """
[server]
unrelated = true

[providers.local]
kind = "openai"
base_url = "http://127.0.0.1:11434/v1/"
api_key_env = "LOCAL_API_KEY"
timeout_s = 30
max_retries = 1

[providers.claude]
kind = "anthropic"
base_url = "https://api.anthropic.com/v1"
api_key_env = "ANTHROPIC_API_KEY"

[providers.openrouter]
max_retries = 4

[models.llama-local]
provider = "local"
provider_model = "llama3.2"
context_window = 131072
multiplier = "0.5"
input_usd_per_mtok = "0.10"
cached_input_usd_per_mtok = 0.05
output_usd_per_mtok = 1

[models.premium]
provider = "claude"
provider_model = "claude-opus-4-5"
""",
    )

    catalog = load_catalog(path, {"LOCAL_API_KEY": "local-key"})

    local = catalog.providers["local"]
    assert local.base_url == "http://127.0.0.1:11434/v1"  # trailing slash dropped
    assert (local.timeout_s, local.deadline_s, local.max_retries, local.available) == (30.0, 90.0, 1, True)
    assert not catalog.providers["claude"].available
    assert catalog.providers["openrouter"].max_retries == 4  # tuned, rest of the built-in kept
    assert catalog.providers["openrouter"].base_url == "https://openrouter.ai/api/v1"
    entry = catalog.models["llama-local"]
    assert entry.spec.context_window == 131072 and entry.has_price_overrides
    assert entry.multiplier == Decimal("0.5") and entry.input_usd_per_mtok == Decimal("0.10")
    assert entry.cached_input_usd_per_mtok == Decimal("0.05") and entry.output_usd_per_mtok == Decimal("1")
    premium = catalog.spec("premium")
    assert premium is not None and premium.provider == "claude" and not premium.available
    assert not catalog.models["deepseek"].has_price_overrides


def test_structured_output_defaults_to_json_schema_and_takes_each_mode(tmp_path: Path):
    path = write_config(
        tmp_path,
        """
[providers.strict]
kind = "openai"
base_url = "http://h"

[providers.loose]
kind = "openai"
base_url = "http://h"
structured_output = "json_object"

[providers.plain]
kind = "openai"
base_url = "http://h"
structured_output = "prompt"

[providers.claude]
kind = "anthropic"
base_url = "http://h"
structured_output = "prompt"
""",
    )

    providers = load_catalog(path, {}).providers

    assert providers["strict"].structured_output == "json_schema"
    assert providers["openrouter"].structured_output == "json_schema"  # the built-ins too
    assert (providers["loose"].structured_output, providers["plain"].structured_output) == ("json_object", "prompt")
    assert providers["claude"].structured_output == "prompt"  # accepted on any kind (Anthropic forces a tool)


def test_an_unknown_structured_output_names_the_key_and_the_modes(tmp_path: Path):
    path = write_config(tmp_path, '[providers.x]\nkind = "openai"\nbase_url = "http://h"\nstructured_output = "xml"')
    with pytest.raises(CatalogError) as raised:
        load_catalog(path, {})
    assert str(raised.value) == (
        "providers.x.structured_output: expected one of 'json_schema', 'json_object', 'prompt', got 'xml'"
    )


def test_config_path_falls_back_to_pantheon_config_env(tmp_path: Path):
    path = write_config(tmp_path, '[models.extra]\nprovider = "simulated"\nprovider_model = "pantheon-sim"\n')
    assert "extra" in load_catalog(None, {"PANTHEON_CONFIG": path}).models


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[providers.x]\nkind = "grpc"\nbase_url = "http://h"', "providers.x.kind"),
        ('[providers.x]\nkind = "openai"', "providers.x.base_url"),
        ('[providers.x]\nkind = "openai"\nbase_url = "ftp://h"', "providers.x.base_url"),
        ('[providers.x]\nkind = "openai"\nbase_url = "http://h"\ntimeout_s = "fast"', "providers.x.timeout_s"),
        ('[providers.x]\nkind = "openai"\nbase_url = "http://h"\ntimeout_s = -1', "providers.x.timeout_s"),
        ('[providers.x]\nkind = "openai"\nbase_url = "http://h"\nmax_retries = 1.5', "providers.x.max_retries"),
        ('[providers.x]\nkind = "openai"\nbase_url = "http://h"\ntimeout = 5', "providers.x.timeout"),
        ('[providers.x]\nkind = "openai"\nbase_url = 5', "providers.x.base_url"),
        (
            '[providers.x]\nkind = "openai"\nbase_url = "http://h"\nstructured_output = 1',
            "providers.x.structured_output",
        ),
        ('[models.m]\nprovider = "ghost"\nprovider_model = "p"', "models.m.provider"),
        ('[models.m]\nprovider_model = "p"', "models.m.provider"),
        ('[models.m]\nprovider = "simulated"', "models.m.provider_model"),
        ('[models.m]\nprovider = "simulated"\nprovider_model = "p"\ncontext_window = "big"', "models.m.context_window"),
        ('[models.m]\nprovider = "simulated"\nprovider_model = "p"\nmultiplier = "lots"', "models.m.multiplier"),
        ('[models.m]\nprovider = "simulated"\nprovider_model = "p"\nmultiplier = "-1"', "models.m.multiplier"),
        ("providers = 3", "providers"),
        ('[models]\nm = "x"', "models.m"),
        ("this is not toml", "PANTHEON_CONFIG"),
    ],
)
def test_bad_config_raises_catalog_error_naming_the_key(tmp_path: Path, toml: str, named: str):
    with pytest.raises(CatalogError, match=named.replace(".", r"\.")):
        load_catalog(write_config(tmp_path, toml), {})


def test_missing_config_file_is_a_catalog_error(tmp_path: Path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(str(tmp_path / "absent.toml"), {})


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it(tmp_path: Path):
    path = write_config(tmp_path, f'[providers.x]\nkind = "openai"\nbase_url = "http://h"\napi_key_env = "{SECRET}"')
    with pytest.raises(CatalogError) as raised:
        load_catalog(path, {})
    assert SECRET not in str(raised.value) and "providers.x.api_key_env" in str(raised.value)


def test_key_value_never_appears_in_reprs():
    catalog = load_catalog(None, {"OPENROUTER_API_KEY": SECRET})
    texts = [repr(catalog), str(catalog), repr(catalog.providers), repr(catalog.models), repr(catalog.specs())]
    assert all(SECRET not in text for text in texts)
    assert isinstance(catalog, Catalog)
