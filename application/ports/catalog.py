from __future__ import annotations

from typing import Protocol

from domain.model import ModelSpec


class ModelCatalog(Protocol):
    def spec(self, alias: str) -> ModelSpec | None: ...

    def specs(self) -> list[ModelSpec]: ...
