"""Ids that every log line of a request or a turn carries (read by the log formatter)."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
turn_id_var: ContextVar[str | None] = ContextVar("turn_id", default=None)
