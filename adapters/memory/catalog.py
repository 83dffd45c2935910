"""A fake of the ModelCatalog port over a fixed list of model specs."""

from __future__ import annotations

from domain.model import ModelSpec


class MemoryCatalog:
    def __init__(self, specs: list[ModelSpec]) -> None:
        self._specs = {s.alias: s for s in specs}

    def spec(self, alias: str) -> ModelSpec | None:
        return self._specs.get(alias)

    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def replace(self, spec: ModelSpec) -> None:
        """As if the configuration changed between two turns."""
        self._specs[spec.alias] = spec
