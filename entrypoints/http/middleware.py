"""Request ids, access logs and the JSON-only rule, as plain ASGI / hooks."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.logs import request_id_var

log = logging.getLogger("pantheon.http")


class RequestIdMiddleware:
    """Gives every request an id (or keeps a sane one from X-Request-ID), echoes it, logs the outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                },
            )
            request_id_var.reset(token)


async def require_json(request: Request[Any, Any, Any]) -> None:
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    has_body = request.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if has_body and content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPException(status_code=415, detail="Send the body as application/json.")
