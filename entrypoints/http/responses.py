"""JSON responses whose decimals are plain fixed-point strings ("0.00000000", never "0E-8")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Response
from litestar.serialization import default_serializer


def _fixed(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _fixed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fixed(v) for v in value]
    return value


def plain_decimals(content: Any) -> Any:
    return _fixed(msgspec.to_builtins(content, builtin_types=(Decimal,), enc_hook=default_serializer))


class JsonResponse(Response[Any]):
    def render(self, content: Any, media_type: str, enc_hook: Any = default_serializer) -> bytes:
        if isinstance(content, bytes | str) or not media_type.startswith("application/json"):
            return super().render(content, media_type, enc_hook)
        return super().render(plain_decimals(content), media_type, enc_hook)
