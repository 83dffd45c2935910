"""API keys of providers never leave the process: not in logs, responses, step errors or the ledger.

The providers below echo the key back (a 401 that quotes it, an error object inside a 200, an error
event mid-stream), as some real ones do. The app is started inside the test so that everything it
logs, from start to shutdown, is captured at DEBUG.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import Api, model_table, provider_app, provider_table
from tests.support.llm_servers import FakeUsage, json_reply, status_reply

# Deliberately not shaped like the patterns the JSON log formatter redacts (sk-..., Bearer ...):
# what is checked here is that the key is never handed to a logger or a response at all.
OPENAI_KEY = "loopback-openai-secret-7d1f3b9e2a"
ANTHROPIC_KEY = "loopback-anthropic-secret-5c8e0a4f6d"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY)


def config(loopback: Loopback) -> str:
    return (
        provider_table("oai", loopback.openai, "PANTHEON_TEST_SECRET_OAI", timeout_s=5, max_retries=1)
        + provider_table("anth", loopback.anthropic, "PANTHEON_TEST_SECRET_ANTH", timeout_s=5, max_retries=1)
        + model_table("gpt-loop", "oai", "gpt-loopback")
        + model_table("claude-loop", "anth", "claude-loopback")
    )


def everything_logged(records: list[logging.LogRecord]) -> str:
    # The formatted message, its arguments, structured `fields` and any traceback: all of a record.
    return "\n".join(f"{r.getMessage()} {r.args!r} {vars(r)!r} {r.exc_text or ''}" for r in records)


async def test_provider_keys_never_leak(
    database_url: str, loopback: Loopback, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"PANTHEON_TEST_SECRET_OAI": OPENAI_KEY, "PANTHEON_TEST_SECRET_ANTH": ANTHROPIC_KEY}
    openai, anthropic = loopback.openai, loopback.anthropic
    async with provider_app(database_url, tmp_path, config(loopback), env) as api:
        # 1. 401s quoting the key (OpenAI's wording; Anthropic's authentication_error).
        openai.script(status_reply(401, f"Incorrect API key provided: {OPENAI_KEY}."))
        anthropic.script(
            json_reply(
                anthropic.kit.error_body("authentication_error", f"invalid x-api-key {ANTHROPIC_KEY}"), status=401
            )
        )
        rejected = await run_turn(api)
        for step in rejected["steps"]:
            assert (step["status"], step["error"]["code"]) == ("failed", "provider_rejected")
            assert "HTTP 401" in step["error"]["detail"] and "[redacted]" in step["error"]["detail"]

        # 2. An error object inside a 200 and an error event mid-stream, both quoting the key.
        openai.script(json_reply(openai.kit.error_body("invalid_request_error", f"key {OPENAI_KEY} is disabled")))
        anthropic.script(anthropic.kit.error_in_stream("permission_error", f"{ANTHROPIC_KEY} may not use this model"))
        echoed = await run_turn(api)
        for step in echoed["steps"]:
            assert (step["status"], step["error"]["code"]) == ("failed", "provider_error")
            assert "[redacted]" in step["error"]["detail"]

        # 3. A normal turn, then every read route a client could use.
        openai.script(openai.kit.stream(["Hello."], usage=FakeUsage(input=30, output=4)))
        anthropic.script(anthropic.kit.stream(["Hi."], usage=FakeUsage(input=30, output=4)))
        answered = await run_turn(api, failing=False)
        assert [s["status"] for s in answered["steps"]] == ["completed", "completed"]
        for turn in (rejected, echoed, answered):
            rows = await api.ledger(turn["id"])
            assert len(rows) == 2 and all(r["provider"] in ("oai", "anth") for r in rows)
            await api.call("GET", f"/sessions/{turn['session_id']}/turns", expect=200)
            await api.call("GET", f"/sessions/{turn['session_id']}/turns/{turn['id']}", expect=200)
            await api.call("GET", f"/sessions/{turn['session_id']}/messages", expect=200)
        await api.models()
        await api.call("GET", "/pricing", expect=200)
        await api.call("GET", "/usage/summary", params={"group_by": "model"}, expect=200)
        await api.call("GET", "/me", expect=200)
        api.bodies.append((await api.client.get("/schema/openapi.json")).text)

    # The keys did travel to the providers, in the right header...
    assert {r.headers["authorization"] for r in openai.requests} == {f"Bearer {OPENAI_KEY}"}
    assert {r.headers["x-api-key"] for r in anthropic.requests} == {ANTHROPIC_KEY}
    # ...and nowhere else.
    logged = everything_logged(caplog.records)
    assert any(r.getMessage() == "step failed" for r in caplog.records), "the app's own logs were not captured"
    for key in KEYS:
        assert key not in logged
        for body in api.bodies:
            assert key not in body


async def run_turn(api: Api, *, failing: bool = True) -> dict[str, Any]:
    session = await api.roundtable(
        ("gpt", "gpt-loop", "You are an engineer."), ("claude", "claude-loop", "You are an editor.")
    )
    turn = await api.turn(session, "Say hello.")
    assert turn["status"] == ("failed" if failing else "completed")
    return turn
