"""One table from failures to HTTP answers: every 4xx/5xx body is {status, code, detail[, extra]}."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from psycopg import OperationalError
from psycopg_pool import PoolTimeout

from application.errors import StoreUnavailable, TurnUnavailable
from domain import errors as domain

log = logging.getLogger(__name__)

# Keyed by the exact class: a DomainError subclass missing here is a bug (a test checks every one has
# an entry), answered 500 and logged, never guessed at.
STATUS_OF_ERROR: dict[type[domain.DomainError], int] = {
    domain.Unauthorized: 401,
    domain.Forbidden: 403,
    domain.NotFound: 404,
    domain.ValidationFailed: 422,
    domain.EmailTaken: 409,
    domain.AgentKeyTaken: 409,
    domain.TurnInProgress: 409,
    domain.TurnNotRunning: 409,
    domain.IdempotencyConflict: 409,
    domain.NoValidTag: 422,
    domain.NoAgents: 422,
    domain.UnknownModel: 422,
    domain.ContextBudgetExceeded: 422,
    domain.TooManyAgents: 422,
    domain.InsufficientCredits: 402,
    domain.RateLimited: 429,
}
# Litestar's own HTTP errors (routing, body size, media type) by status.
CODE_OF_STATUS: dict[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "service_unavailable",
}


class ErrorBody(msgspec.Struct, omit_defaults=True):
    status: int
    code: str
    detail: str
    extra: Any = None


def error_response(status: int, code: str, detail: str, extra: Any = None) -> Response[ErrorBody]:
    return Response(
        ErrorBody(status=status, code=code, detail=detail, extra=extra), status_code=status, media_type=MediaType.JSON
    )


def on_domain_error(request: Request, exc: domain.DomainError) -> Response[ErrorBody]:
    status = STATUS_OF_ERROR.get(type(exc))
    if status is None:
        return on_unexpected_error(request, exc)
    response = error_response(status, exc.code, exc.detail, exc.extra)
    if isinstance(exc, domain.RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def on_validation_error(_: Request, exc: ValidationException) -> Response[ErrorBody]:
    # Malformed JSON is a 400; a well-formed body with a bad field (type, limit, unknown) is a 422.
    malformed = "JSON is malformed" in str(exc.detail) or "Malformed" in str(exc.detail)
    status = 400 if malformed else 422
    return error_response(status, "validation_error", str(exc.detail), exc.extra or None)


def on_http_error(_: Request, exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    code = CODE_OF_STATUS.get(status, "internal_error" if status >= 500 else "validation_error")
    return error_response(status, code, str(exc.detail))


UNAVAILABLE = "The service is temporarily unavailable; try again shortly."


def on_store_unavailable(request: Request, exc: StoreUnavailable) -> Response[ErrorBody]:
    # The database is down or every connection is busy: a temporary condition, said as such.
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, TurnUnavailable):
        extra = {"turn_id": str(exc.turn_id), "turn_started": exc.started}
        return error_response(503, "service_unavailable", str(exc), extra)
    return error_response(503, "service_unavailable", UNAVAILABLE)


def on_database_error(request: Request, exc: Exception) -> Response[ErrorBody]:
    # A driver error that bypassed the pool's translation (e.g. raised while the pool opens).
    return on_store_unavailable(request, StoreUnavailable(type(exc).__name__, maybe_written=True))


def on_unexpected_error(request: Request, exc: Exception) -> Response[ErrorBody]:
    if isinstance(exc, RecursionError) and "deserializing" in str(exc):
        # msgspec rejects a too deeply nested JSON body with a RecursionError that Litestar does not wrap.
        return error_response(400, "validation_error", "JSON is malformed: nested too deeply.")
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500, "internal_error", "Something went wrong on our side; the request id is in the response headers."
    )


EXCEPTION_HANDLERS = {
    domain.DomainError: on_domain_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    StoreUnavailable: on_store_unavailable,
    PoolTimeout: on_database_error,
    OperationalError: on_database_error,
    Exception: on_unexpected_error,
}

_DESCRIPTIONS = {
    400: "Malformed request body",
    401: "Missing or invalid API key",
    402: "Not enough credits for the turn's first call (insufficient_credits); nothing was written",
    403: "Forbidden (also: a suspended account, or an admin route called by a non-admin)",
    404: "Not found (also for another user's resource or a malformed id)",
    409: "Conflict",
    413: "Request body over 1 MiB",
    415: "Body is not application/json",
    422: "Invalid value",
    429: "Rate limited (running turns or requests per minute); see Retry-After",
    503: "Database unavailable or saturated; retry",
}


def error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error answers a route can give (every route may answer 503; one that
    needs a key (401) may also answer 403 to a suspended user and 429 past the per-minute rate)."""
    authenticated = {403, 429} if 401 in statuses else set()
    return {
        s: ResponseSpec(data_container=ErrorBody, description=_DESCRIPTIONS.get(s, "Error"))
        for s in sorted({*statuses, *authenticated, 503})
    }
