"""The model catalog: built-in providers and aliases, extended by the TOML file named by PANTHEON_CONFIG.

API key values are never copied into the catalog's values: `ProviderConfig` keeps only the name of
the env var, and `Catalog.api_key` reads the value on demand when an adapter builds its headers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

import msgspec

from adapters.llm.catalog_tables import parse_model, parse_provider
from adapters.llm.catalog_types import CatalogError, ModelEntry, ProviderConfig
from adapters.llm.seed import BUILTIN_MODELS, BUILTIN_PROVIDERS
from application.use_cases.publish_prices import PriceOverride
from domain.model import ModelSpec

__all__ = ["Catalog", "CatalogError", "ModelEntry", "ProviderConfig", "load_catalog"]

CONFIG_ENV_VAR = "PANTHEON_CONFIG"


class Catalog:
    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        models: Mapping[str, ModelEntry],
        env: Mapping[str, str],
    ) -> None:
        self.providers: dict[str, ProviderConfig] = dict(providers)
        self.models: dict[str, ModelEntry] = dict(models)
        self._env = env  # private: the only route to key values, never part of repr

    def spec(self, alias: str) -> ModelSpec | None:
        entry = self.models.get(alias)
        if entry is None:
            return None
        provider = self.providers[entry.spec.provider]
        return msgspec.structs.replace(entry.spec, available=provider.available)

    def specs(self) -> list[ModelSpec]:
        return [spec for alias in sorted(self.models) if (spec := self.spec(alias)) is not None]

    def price_overrides(self) -> list[PriceOverride]:
        """The prices the config file sets per alias (published as a pricing version at start)."""
        return [
            PriceOverride(
                alias=alias,
                multiplier=entry.multiplier,
                input_usd_per_mtok=entry.input_usd_per_mtok,
                cached_input_usd_per_mtok=entry.cached_input_usd_per_mtok,
                output_usd_per_mtok=entry.output_usd_per_mtok,
            )
            for alias, entry in sorted(self.models.items())
            if entry.has_price_overrides
        ]

    def api_key(self, provider_name: str) -> str | None:
        provider = self.providers.get(provider_name)
        if provider is None or provider.api_key_env is None:
            return None
        return self._env.get(provider.api_key_env) or None

    def __repr__(self) -> str:
        return f"Catalog(providers={sorted(self.providers)}, models={sorted(self.models)})"


def load_catalog(config_path: str | None, env: Mapping[str, str]) -> Catalog:
    """Built-ins merged with the config file; `config_path=None` falls back to env[PANTHEON_CONFIG]."""
    path = config_path if config_path is not None else env.get(CONFIG_ENV_VAR) or None
    document = _read_toml(path) if path else {}
    provider_tables = _merge_tables(BUILTIN_PROVIDERS, _section(document, "providers"), "providers")
    model_tables = _merge_tables(BUILTIN_MODELS, _section(document, "models"), "models")
    providers = {name: parse_provider(name, table, env) for name, table in provider_tables.items()}
    models = {alias: parse_model(alias, table, providers) for alias, table in model_tables.items()}
    return Catalog(providers, models, env)


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise CatalogError(f"{CONFIG_ENV_VAR}: cannot read {path!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{CONFIG_ENV_VAR}: {path!r} is not valid TOML: {exc}") from None


def _section(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    # Other top-level tables may belong to other parts of Pantheon; only these two are ours.
    section = document.get(name, {})
    if not isinstance(section, Mapping):
        raise CatalogError(f"{name}: expected a table of tables, got {type(section).__name__}")
    return section


def _merge_tables(
    builtins: Mapping[str, Mapping[str, Any]], overrides: Mapping[str, Any], section: str
) -> dict[str, Any]:
    """Key-by-key merge, so a file can tune one setting of a built-in without restating it."""
    merged: dict[str, Any] = {name: dict(table) for name, table in builtins.items()}
    for name, table in overrides.items():
        if not isinstance(table, Mapping):
            raise CatalogError(f"{section}.{name}: expected a table, got {type(table).__name__}")
        merged[name] = {**merged.get(name, {}), **table}
    return merged
