"""Keyset paging shared by every list route: `limit` items from after an opaque `cursor`.

A cursor is the sort key of the last item a page held, encoded (base64 of its JSON), so that a page
is one index range scan however deep it goes, and rows written meanwhile never shift later pages.
Stores are asked for `limit + 1` items: the extra one only says whether another page exists.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from domain.errors import ValidationFailed

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.", extra=[{"key": "limit"}])
    return limit


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_type: type[K]) -> K | None:
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=key_type)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise ValidationFailed("The cursor is not one this server gave out.", extra=[{"key": "cursor"}]) from None


def page(items: Sequence[T], limit: int, key: Callable[[T], Any]) -> tuple[list[T], str | None]:
    """The first `limit` of up to `limit + 1` items, and the cursor of the next page (None on the last)."""
    kept = list(items[:limit])
    return kept, encode_cursor(key(kept[-1])) if len(items) > limit else None
