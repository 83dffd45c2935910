"""Provider and model configuration values. No secret lives here: only the *name* of a key's env var."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from domain.model import ModelSpec

ProviderKind = Literal["openai", "anthropic", "simulated"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("openai", "anthropic", "simulated")
# How an OpenAI-compatible provider is asked for a JSON answer of a schema (the manager's decisions):
# `response_format` json_schema (strict), json_object (any JSON object), or only the prompt's words.
# The Anthropic Messages API has one way, a forced tool, whatever this says.
StructuredOutput = Literal["json_schema", "json_object", "prompt"]
STRUCTURED_OUTPUTS: tuple[StructuredOutput, ...] = ("json_schema", "json_object", "prompt")


class CatalogError(ValueError):
    """The provider/model configuration is invalid; the message names the offending key."""


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    name: str
    kind: ProviderKind
    base_url: str | None = None  # None only for the simulated kind
    api_key_env: str | None = None
    timeout_s: float = 60.0  # read timeout: longest silence tolerated between two bytes
    connect_timeout_s: float = 10.0
    # Total time one attempt may take, stream included (a trickling stream never trips the read
    # timeout). None means 3 x timeout_s.
    deadline_s: float | None = None
    max_retries: int = 2  # retries, so attempts = 1 + max_retries
    available: bool = True  # False when api_key_env is given but the variable is unset or empty
    structured_output: StructuredOutput = "json_schema"

    def __post_init__(self) -> None:
        if self.deadline_s is None:
            object.__setattr__(self, "deadline_s", 3 * self.timeout_s)

    @property
    def attempt_deadline_s(self) -> float:
        return self.deadline_s if self.deadline_s is not None else 3 * self.timeout_s


@dataclass(frozen=True, kw_only=True)
class ModelEntry:
    """A model alias: its wiring (the domain ModelSpec) plus optional price overrides from the config."""

    spec: ModelSpec
    multiplier: Decimal | None = None
    input_usd_per_mtok: Decimal | None = None
    cached_input_usd_per_mtok: Decimal | None = None
    output_usd_per_mtok: Decimal | None = None

    @property
    def has_price_overrides(self) -> bool:
        prices = (
            self.multiplier,
            self.input_usd_per_mtok,
            self.cached_input_usd_per_mtok,
            self.output_usd_per_mtok,
        )
        return any(price is not None for price in prices)
