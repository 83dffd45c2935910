"""Errors in OpenAI's shape, from the same table as every native answer (entrypoints/http/errors.py):
the same status and `code`, with `message` and `type` where OpenAI's clients look for them. The native
`status`, `code` and `detail` stay beside `error`, so the body is also the contract's error body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.openapi.datastructures import ResponseSpec

from entrypoints.http.errors import _DESCRIPTIONS, EXCEPTION_HANDLERS, ErrorBody

# OpenAI's error types by status (its SDKs pick the exception class from the status alone).
TYPE_OF_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAiError(msgspec.Struct, kw_only=True):
    message: str
    type: str
    code: str
    param: str | None = None


class OpenAiErrorBody(msgspec.Struct, kw_only=True):
    error: OpenAiError
    status: int
    code: str
    detail: str


def in_openai_shape(native: Callable[[Request, Any], Response[ErrorBody]]) -> Callable[..., Response[Any]]:
    def handler(request: Request, exc: Exception) -> Response[Any]:
        answer = native(request, exc)
        body = answer.content
        kind = TYPE_OF_STATUS.get(body.status, "server_error" if body.status >= 500 else "invalid_request_error")
        shaped = OpenAiErrorBody(
            error=OpenAiError(message=body.detail, type=kind, code=body.code),
            status=body.status,
            code=body.code,
            detail=body.detail,
        )
        return Response(shaped, status_code=answer.status_code, headers=answer.headers, media_type=MediaType.JSON)

    return handler


OPENAI_EXCEPTION_HANDLERS = {cls: in_openai_shape(native) for cls, native in EXCEPTION_HANDLERS.items()}


def openai_error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        s: ResponseSpec(data_container=OpenAiErrorBody, description=_DESCRIPTIONS.get(s, "Error"))
        for s in sorted({*statuses, 503})
    }
