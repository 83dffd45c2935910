"""Logs are JSON lines carrying the request and turn ids, and never an API key."""

from __future__ import annotations

import json
import logging

from application.log_context import request_id_var, turn_id_var
from entrypoints.logs import JsonFormatter


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("pantheon.test", logging.INFO, __file__, 1, message, args, None)


def test_a_line_carries_the_ids_in_context() -> None:
    request_token, turn_token = request_id_var.set("req-1"), turn_id_var.set("turn-1")
    try:
        line = json.loads(JsonFormatter().format(record("step %s done", 2)))
    finally:
        request_id_var.reset(request_token)
        turn_id_var.reset(turn_token)
    assert line["msg"] == "step 2 done" and line["level"] == "info"
    assert (line["request_id"], line["turn_id"]) == ("req-1", "turn-1")
    assert line["ts"].endswith("+00:00")


def test_keys_are_redacted_whatever_logs_them() -> None:
    key = "pk_" + "A1b2" * 10
    line = JsonFormatter().format(record("header was %s and %s", f"Bearer {key}", "sk-live-0123456789abcdef"))
    assert key not in line and "sk-live-0123456789abcdef" not in line and "[redacted]" in line
