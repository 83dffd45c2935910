"""The rules every request's input meets before a handler sees it (docs/http-api.md, "Input rules").

- Bodies are JSON objects decoded strictly against the route's body type: a string where an integer
  belongs, an integer where a string belongs, `null` where a value is required, an unknown field or
  a body that is not an object are refused (422, or 400 for JSON that does not parse), naming the field.
  Litestar's own decoding is lenient (it turns "2" into 2), so the body is checked here first.
- Text: no string anywhere in a request (body fields, query parameters, path segments, the
  Idempotency-Key) may hold a NUL character or a lone UTF-16 surrogate: neither is text, PostgreSQL
  cannot store the first and UTF-8 cannot encode the second. Such input is refused with 422 naming
  the field (404 in a path, like any malformed id), never stored altered.
"""

from __future__ import annotations

import json
import re
from functools import cache
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

_FIELD = re.compile(r" - at `\$(?:\.(\w+))?")
_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_text(value: str) -> str | None:
    """Why `value` is not acceptable text, or None."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    if _SURROGATE.search(value):
        return "must not contain lone UTF-16 surrogates"
    return None


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """(field path, string) for every string inside a decoded value."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, msgspec.Struct):
        return [s for f in value.__struct_fields__ for s in _strings(getattr(value, f), f"{path}.{f}".lstrip("."))]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [*_strings(k, path), *_strings(v, f"{path}.{k}".lstrip("."))]]
    if isinstance(value, list | tuple):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def refuse(key: str, message: str, source: str) -> ValidationException:
    return ValidationException(
        detail=f"Invalid {key}: {message}.", extra=[{"message": message, "key": key, "source": source}]
    )


def check_text(value: Any, source: str, path: str = "") -> None:
    for key, text in _strings(value, path):
        if (why := bad_text(text)) is not None:
            raise refuse(key or "data", why, source)


@cache
def _body_type(annotation: Any) -> tuple[Any, bool]:
    """(the type to decode a body into, whether the body may be left out entirely)."""
    if get_origin(annotation) in (Union, UnionType) and NoneType in get_args(annotation):
        kept = [a for a in get_args(annotation) if a is not NoneType]
        return (kept[0] if len(kept) == 1 else Union[tuple(kept)]), True  # noqa: UP007
    return annotation, False


def _decode(raw: bytes, body_type: Any) -> Any:
    try:
        return msgspec.json.decode(raw, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        _well_formed(raw)  # the decoder stops at the first wrong type; malformed JSON is still a 400
        found = _FIELD.search(str(exc))
        key = found.group(1) if found and found.group(1) else "data"
        raise refuse(key, str(exc).split(" - at ")[0], "body") from None
    except msgspec.DecodeError as exc:
        # msgspec refuses \ud800-style escapes of lone surrogates as malformed; the JSON is well formed,
        # only its text is not text: say which field holds it.
        try:
            lenient = json.loads(raw)
        except (ValueError, RecursionError):
            lenient = None
        check_text(lenient, "body")
        raise ValidationException(
            detail=f"JSON is malformed: {exc}".replace("JSON is malformed: JSON", "JSON")
        ) from None
    except RecursionError:
        raise ValidationException(detail="JSON is malformed: nested too deeply.") from None


def _well_formed(raw: bytes) -> None:
    try:
        msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        detail = (
            "nested too deeply." if isinstance(exc, RecursionError) else str(exc).removeprefix("JSON is malformed: ")
        )
        raise ValidationException(detail=f"JSON is malformed: {detail}") from None


async def check_input(request: Request[Any, Any, Any]) -> None:
    """A `before_request` hook: runs after authentication (a guard), before the handler decodes anything."""
    for value in request.path_params.values():
        if isinstance(value, str) and bad_text(value):
            raise NotFoundException(detail="No such resource.")
    for name, value in request.query_params.multi_items():
        if (why := bad_text(value)) is not None:
            raise refuse(name, why, "query")
    if (key := request.headers.get("idempotency-key")) is not None and not (0 < len(key) <= 200 and key.isprintable()):
        raise refuse("Idempotency-Key", "must hold 1 to 200 printable characters", "header")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(status_code=415, detail="Send the body as application/json.")
    parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    if parameter is None:
        return
    body_type, optional = _body_type(parameter.annotation)
    if not raw and (optional or parameter.has_default):
        return
    check_text(_decode(raw, body_type), "body")
