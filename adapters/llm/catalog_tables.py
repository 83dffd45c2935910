"""Turn TOML-shaped `[providers.NAME]` / `[models.ALIAS]` tables into validated config values.

Every error names the full key (`providers.local.timeout_s`) so a broken config file is fixed in one look.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.llm.catalog_types import (
    PROVIDER_KINDS,
    STRUCTURED_OUTPUTS,
    CatalogError,
    ModelEntry,
    ProviderConfig,
    StructuredOutput,
)
from domain.model import ModelSpec

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROVIDER_KEYS = frozenset(
    {
        "kind",
        "base_url",
        "api_key_env",
        "timeout_s",
        "connect_timeout_s",
        "deadline_s",
        "max_retries",
        "structured_output",
    }
)
_PRICE_KEYS = ("multiplier", "input_usd_per_mtok", "cached_input_usd_per_mtok", "output_usd_per_mtok")
# (decimal places, integer digits) the pricing tables store: NUMERIC(10,4) and NUMERIC(20,8). A price
# more precise than its column would be rounded on publication and then never compare equal again.
_PRICE_PRECISION = {
    "multiplier": (4, 6),
    "input_usd_per_mtok": (8, 12),
    "cached_input_usd_per_mtok": (8, 12),
    "output_usd_per_mtok": (8, 12),
}
_MODEL_KEYS = frozenset({"provider", "provider_model", "context_window", *_PRICE_KEYS})
_MAX_RETRIES_LIMIT = 10
DEFAULT_CONTEXT_WINDOW = 8192


def parse_provider(name: str, table: Any, env: Mapping[str, str]) -> ProviderConfig:
    where = f"providers.{name}"
    _check_table(where, table)
    _check_name(where, name)
    _reject_unknown_keys(where, table, _PROVIDER_KEYS)
    kind = table.get("kind")
    if kind not in PROVIDER_KINDS:
        allowed = ", ".join(repr(k) for k in PROVIDER_KINDS)
        raise CatalogError(f"{where}.kind: expected one of {allowed}, got {kind!r}")
    base_url = _optional_str(where, table, "base_url")
    if kind != "simulated":
        if base_url is None:
            raise CatalogError(f"{where}.base_url: required for kind {kind!r}")
        if not base_url.startswith(("http://", "https://")):
            raise CatalogError(f"{where}.base_url: must start with http:// or https://, got {base_url!r}")
    api_key_env = _optional_str(where, table, "api_key_env")
    if api_key_env is not None and not _ENV_VAR.match(api_key_env):
        # Never echo the value: a common mistake is pasting the key itself here.
        raise CatalogError(f"{where}.api_key_env: must be the NAME of an environment variable, not the key")
    timeout_s = _positive_number(where, table, "timeout_s", 60.0)
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=base_url.rstrip("/") if base_url else None,
        api_key_env=api_key_env,
        timeout_s=timeout_s,
        connect_timeout_s=_positive_number(where, table, "connect_timeout_s", 10.0),
        deadline_s=_positive_number(where, table, "deadline_s", 3 * timeout_s),
        max_retries=_retry_count(where, table),
        available=api_key_env is None or bool(env.get(api_key_env)),
        structured_output=_structured_output(where, table),
    )


def parse_model(alias: str, table: Any, providers: Mapping[str, ProviderConfig]) -> ModelEntry:
    where = f"models.{alias}"
    _check_table(where, table)
    _check_name(where, alias)
    _reject_unknown_keys(where, table, _MODEL_KEYS)
    provider = _optional_str(where, table, "provider")
    if provider is None:
        raise CatalogError(f"{where}.provider: required")
    if provider not in providers:
        raise CatalogError(f"{where}.provider: unknown provider {provider!r}")
    provider_model = _optional_str(where, table, "provider_model")
    if not provider_model:
        raise CatalogError(f"{where}.provider_model: required")
    window = table.get("context_window", DEFAULT_CONTEXT_WINDOW)
    if not _is_int(window) or window <= 0:
        raise CatalogError(f"{where}.context_window: expected a positive integer, got {window!r}")
    prices = {key: _optional_price(where, table, key) for key in _PRICE_KEYS}
    spec = ModelSpec(alias=alias, provider=provider, provider_model=provider_model, context_window=window)
    return ModelEntry(spec=spec, **prices)


def _check_table(where: str, table: Any) -> None:
    if not isinstance(table, Mapping):
        raise CatalogError(f"{where}: expected a table, got {type(table).__name__}")


def _check_name(where: str, name: str) -> None:
    if not _NAME.match(name):
        raise CatalogError(f"{where}: invalid name (letters, digits, '.', '_', '-'; at most 64 characters)")


def _reject_unknown_keys(where: str, table: Mapping[str, Any], allowed: frozenset[str]) -> None:
    # A typo such as `timeout = 5` would otherwise be silently ignored.
    for key in table:
        if key not in allowed:
            raise CatalogError(f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _optional_str(where: str, table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise CatalogError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_number(where: str, table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if not (_is_int(value) or isinstance(value, float)) or not value > 0:
        raise CatalogError(f"{where}.{key}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _retry_count(where: str, table: Mapping[str, Any]) -> int:
    value = table.get("max_retries", 2)
    if not _is_int(value) or not 0 <= value <= _MAX_RETRIES_LIMIT:
        raise CatalogError(f"{where}.max_retries: expected an integer from 0 to {_MAX_RETRIES_LIMIT}, got {value!r}")
    return value


def _structured_output(where: str, table: Mapping[str, Any]) -> StructuredOutput:
    # Accepted on every kind (a provider's kind may change later); only the openai dialect reads it.
    value = table.get("structured_output", "json_schema")
    for mode in STRUCTURED_OUTPUTS:
        if value == mode:
            return mode
    allowed = ", ".join(repr(m) for m in STRUCTURED_OUTPUTS)
    raise CatalogError(f"{where}.structured_output: expected one of {allowed}, got {value!r}")


def _optional_price(where: str, table: Mapping[str, Any], key: str) -> Decimal | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CatalogError(f'{where}.{key}: expected a decimal string such as "0.50", got {value!r}')
    try:
        # str() first so a TOML float 0.1 becomes Decimal("0.1"), not its binary approximation.
        price = Decimal(str(value))
    except InvalidOperation:
        raise CatalogError(f"{where}.{key}: not a decimal number: {value!r}") from None
    if not price.is_finite() or price < 0:
        raise CatalogError(f"{where}.{key}: expected a finite, non-negative number, got {value!r}")
    places, digits = _PRICE_PRECISION[key]
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise CatalogError(f"{where}.{key}: at most {places} decimal places, got {value!r}")
    if price >= Decimal(10) ** digits:
        raise CatalogError(f"{where}.{key}: must be below 10^{digits}, got {value!r}")
    return price
