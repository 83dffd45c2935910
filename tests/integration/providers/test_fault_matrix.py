"""The provider fault matrix, each case a real roundtable turn over HTTP against a loopback server.

The room is [loopback agent, simulated agent]: a provider fault fails the first step only, so the turn
is `partial` and the simulated agent still answers. Every case runs against both wire protocols and
checks the step, the ledger rows (one per attempt that reached the provider) and that every row
recomputes from its tokens. No response is ever a 5xx (the `Api` driver checks each one).

Attempts that fail mid-stream: the adapter retries them unless text was already pushed to a live
reader (see adapters/llm/retry.py). Turns do not stream deltas yet, so today every attempt is made;
the assertions accept either regime by tying the ledger rows to the requests the server received.

Speed: the "tight" provider has a 0.25 s read timeout; failures that carry no Retry-After back off
with jitter (at most 0.5 s, then 1 s).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.llm.estimate import estimate_input_tokens
from domain.budget import estimate_tokens
from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import Api, model_table, provider_app, provider_table, sent_messages
from tests.support.llm_servers import (
    FakeUsage,
    Reply,
    ScriptedLlmServer,
    json_reply,
    status_reply,
    text_reply,
)

PIECES = ["The fall ", "of Rome ", "had many ", "causes."]
TEXT = "".join(PIECES)
PARTIAL = "".join(PIECES[:2])
MAX_RETRIES = 2
ATTEMPTS = 1 + MAX_RETRIES
TIGHT_TIMEOUT_S = 0.25
KEYS = {"openai": "oai-matrix-key-0a1b2c3d", "anthropic": "anth-matrix-key-4e5f6a7b"}


@pytest.fixture(scope="module")
async def api(database_url: str, loopback: Loopback, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    config = ""
    for kind in ("openai", "anthropic"):
        server, key_env = loopback.of(kind), f"PANTHEON_TEST_{kind.upper()}_KEY"
        config += provider_table(kind, server, key_env, timeout_s=5, connect_timeout_s=2, max_retries=MAX_RETRIES)
        config += provider_table(
            f"{kind}-tight", server, key_env, timeout_s=TIGHT_TIMEOUT_S, connect_timeout_s=2, max_retries=MAX_RETRIES
        )
        config += model_table(f"{kind}-chat", kind, f"{kind}-model-1")
        config += model_table(f"{kind}-tight", f"{kind}-tight", f"{kind}-model-1")
    env = {f"PANTHEON_TEST_{kind.upper()}_KEY": key for kind, key in KEYS.items()}
    async with provider_app(database_url, tmp_path_factory.mktemp("matrix"), config, env) as running:
        yield running


@pytest.fixture(params=["openai", "anthropic"])
def server(request: pytest.FixtureRequest, loopback: Loopback) -> ScriptedLlmServer:
    return loopback.of(request.param)


@dataclasses.dataclass
class Outcome:
    turn: dict[str, Any]
    step: dict[str, Any]  # the loopback agent's step
    rows: list[dict[str, Any]]  # ledger rows of that step
    server: ScriptedLlmServer

    @property
    def statuses(self) -> list[str]:
        # Rows of one step share created_at, so the API lists them in id order, not attempt order.
        return sorted(r["status"] for r in self.rows)

    def tokens(self, row: dict[str, Any]) -> tuple[int, int, int]:
        return row["input_tokens_fresh"], row["input_tokens_cached"], row["output_tokens"]

    def estimated_input(self) -> int:
        return estimate_input_tokens(sent_messages(self.server.requests[0]))


async def run_case(api: Api, server: ScriptedLlmServer, *replies: Reply, tight: bool = False) -> Outcome:
    server.script(*replies)
    alias = f"{server.kit.kind}-tight" if tight else f"{server.kit.kind}-chat"
    session = await api.roundtable(("probe", alias, "You are a historian."), ("backup", "sim", "You are a scribe."))

    turn = await api.turn(session, "What caused the fall of Rome?")

    rows = await api.ledger(turn["id"])
    await api.check_accounting(turn, rows)
    probe, backup = turn["steps"]
    assert (backup["agent_key"], backup["status"], backup["error"]) == ("backup", "completed", None)
    assert [(r["step_index"], r["status"]) for r in rows if r["agent_key"] == "backup"] == [(1, "success")]
    assert turn["status"] == ("completed" if probe["status"] == "completed" else "partial")
    assert server.pending == 0 or probe["status"] == "failed", "a scripted reply was never asked for"
    mine = [r for r in rows if r["agent_key"] == "probe"]
    assert len(mine) == len(server.requests), "one ledger row per attempt that reached the provider"
    assert all(r["provider"] == server.kit.kind + ("-tight" if tight else "") for r in mine)
    return Outcome(turn=turn, step=probe, rows=mine, server=server)


def assert_failed(outcome: Outcome, code: str) -> dict[str, Any]:
    step = outcome.step
    assert (step["status"], step["content"], step["error"]["code"]) == ("failed", "", code), step
    assert isinstance(step["error"]["detail"], str) and step["error"]["detail"]
    assert all(r["error_code"] == code for r in outcome.rows)
    return step["error"]


def assert_refused_for_free(row: dict[str, Any]) -> None:
    """An attempt the provider turned down generated nothing: zero tokens, zero credits, not estimated."""
    assert (row["total_tokens"], row["credits_burned"], row["usage_estimated"]) == (0, "0.0000", False), row


def malformed_stream(server: ScriptedLlmServer) -> Reply:
    reply = server.kit.stream(PIECES[:2], finish=False, done=False)
    assert reply.chunks is not None
    broken = (
        b'data: {"id": "chatcmpl-fake", "choices": [\n\n'
        if server.kit.kind == "openai"
        else (b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n')
    )
    return dataclasses.replace(reply, chunks=[*reply.chunks, broken])


def empty_answer(server: ScriptedLlmServer) -> Reply:
    if server.kit.kind == "openai":
        return json_reply({"id": "chatcmpl-empty", "object": "chat.completion", "choices": []})
    return json_reply({"id": "msg_empty", "type": "message", "role": "assistant", "stop_reason": "end_turn"})


# --- answers ---------------------------------------------------------------------------------------


async def test_normal_stream(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, server.kit.stream(PIECES, usage=FakeUsage(input=120, output=9)))

    assert (outcome.step["status"], outcome.step["content"], outcome.step["error"]) == ("completed", TEXT, None)
    [row] = outcome.rows
    assert (row["status"], row["error_code"], row["usage_estimated"]) == ("success", None, False)
    assert outcome.tokens(row) == (120, 0, 9)


async def test_usage_with_cached_tokens(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, server.kit.stream(PIECES, usage=FakeUsage(input=1000, cached=800, output=9)))

    [row] = outcome.rows
    assert (row["status"], row["usage_estimated"]) == ("success", False)
    assert outcome.tokens(row) == (200, 800, 9)
    assert outcome.step["usage"]["input_tokens"] == 1000 and outcome.step["usage"]["cached_input_tokens"] == 800
    assert row["oe_tokens"] == "159.0000"  # 200 * 0.35 + 800 * 0.10 + 9 * 1.0


async def test_usage_missing_is_estimated_and_flagged(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, server.kit.stream(PIECES, usage=None))

    assert (outcome.step["status"], outcome.step["content"]) == ("completed", TEXT)
    [row] = outcome.rows
    assert (row["status"], row["usage_estimated"]) == ("success", True)
    assert outcome.tokens(row) == (outcome.estimated_input(), 0, estimate_tokens(TEXT))
    assert row["total_tokens"] > 0 and row["credits_burned"] != "0.0000"


async def test_plain_json_answer_when_the_server_does_not_stream(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, json_reply(server.kit.body(TEXT, FakeUsage(input=64, cached=32, output=5))))

    assert (outcome.step["status"], outcome.step["content"]) == ("completed", TEXT)
    [row] = outcome.rows
    assert (row["status"], row["usage_estimated"], outcome.tokens(row)) == ("success", False, (32, 32, 5))


# --- retried ---------------------------------------------------------------------------------------


async def test_429_with_retry_after_then_success(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(
        api,
        server,
        status_reply(429, "slow down", headers={"retry-after": "1"}),
        server.kit.stream(PIECES, usage=FakeUsage(input=120, output=9)),
    )

    assert (outcome.step["status"], outcome.step["content"]) == ("completed", TEXT)
    assert outcome.statuses == ["rate_limited", "success"]
    limited = next(r for r in outcome.rows if r["status"] == "rate_limited")
    succeeded = next(r for r in outcome.rows if r["status"] == "success")
    assert limited["error_code"] == "provider_rate_limited" and succeeded["error_code"] is None
    assert_refused_for_free(limited)
    assert outcome.tokens(succeeded) == (120, 0, 9)
    assert limited["call_id"] != succeeded["call_id"]
    first, second = outcome.server.requests
    assert second.received_at - first.received_at >= 0.9, "Retry-After: 1 was not honoured"
    assert outcome.turn["usage"]["llm_calls"] == 3  # retries count as calls: 2 attempts + the simulated agent


async def test_500_three_times_exhausts_the_retries(api: Api, server: ScriptedLlmServer) -> None:
    # Retry-After: 0 only keeps the test fast; without it the adapter backs off with jitter.
    replies = [status_reply(500, "upstream exploded", headers={"retry-after": "0"}) for _ in range(ATTEMPTS)]
    outcome = await run_case(api, server, *replies)

    error = assert_failed(outcome, "provider_error")
    assert "HTTP 500" in error["detail"] and "upstream exploded" in error["detail"]
    assert outcome.statuses == ["error"] * ATTEMPTS
    for row in outcome.rows:
        assert_refused_for_free(row)
    assert len({r["call_id"] for r in outcome.rows}) == ATTEMPTS


async def test_read_timeout_mid_stream(api: Api, server: ScriptedLlmServer) -> None:
    stalled = server.kit.stream(PIECES, usage=FakeUsage(input=50, output=9), pause_after=2, pause_s=3.0)
    outcome = await run_case(api, server, *[stalled] * ATTEMPTS, tight=True)

    error = assert_failed(outcome, "provider_timeout")
    assert f"partial output discarded: {PARTIAL}" in error["detail"]
    assert TEXT not in error["detail"] and PARTIAL not in outcome.step["content"]
    assert outcome.statuses == ["timeout"] * len(outcome.rows) and 1 <= len(outcome.rows) <= ATTEMPTS
    # Billed as the provider likely bills it: input (reported by Anthropic's message_start, else estimated)
    # plus the estimated partial output; flagged as estimated.
    reported_input = 50 if server.kit.kind == "anthropic" else outcome.estimated_input()
    for row in outcome.rows:
        assert row["usage_estimated"] is True
        assert outcome.tokens(row) == (reported_input, 0, estimate_tokens(PARTIAL))
    assert all(r["latency_ms"] >= TIGHT_TIMEOUT_S * 1000 * 0.9 for r in outcome.rows)


async def test_stream_cut_without_done(api: Api, server: ScriptedLlmServer) -> None:
    cut = server.kit.stream(PIECES[:2], finish=False, done=False, cut=True)
    outcome = await run_case(api, server, *[cut] * ATTEMPTS)

    error = assert_failed(outcome, "provider_stream_interrupted")
    assert f"partial output discarded: {PARTIAL}" in error["detail"]
    assert outcome.statuses == ["error"] * len(outcome.rows) and 1 <= len(outcome.rows) <= ATTEMPTS
    assert all(r["usage_estimated"] and r["output_tokens"] == estimate_tokens(PARTIAL) for r in outcome.rows)


async def test_stream_closed_cleanly_before_its_end_marker_then_a_whole_answer(
    api: Api, server: ScriptedLlmServer
) -> None:
    closed_early = server.kit.stream(PIECES[:2], finish=False, done=False)
    outcome = await run_case(api, server, closed_early, server.kit.stream(["Another ", "answer."]))

    # Without a live reader the partial text is discarded and the call retried: never two answers glued.
    assert (outcome.step["status"], outcome.step["content"]) == ("completed", "Another answer.")
    assert outcome.statuses == ["error", "success"]
    interrupted = next(r for r in outcome.rows if r["status"] == "error")
    assert interrupted["error_code"] == "provider_stream_interrupted" and interrupted["usage_estimated"]


# --- not retried -----------------------------------------------------------------------------------


async def test_malformed_json_chunk(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, malformed_stream(server))

    error = assert_failed(outcome, "provider_bad_response")
    assert "malformed JSON" in error["detail"] and f"partial output discarded: {PARTIAL}" in error["detail"]
    [row] = outcome.rows
    assert (row["status"], row["usage_estimated"]) == ("error", True)


async def test_wrong_content_type(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, text_reply("<html><body>Bad gateway</body></html>"))

    error = assert_failed(outcome, "provider_bad_response")
    assert "text/html" in error["detail"]
    [row] = outcome.rows
    assert row["status"] == "error"
    assert_refused_for_free(row)


async def test_http_200_with_an_error_body(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, json_reply(server.kit.error_body("invalid_request_error", "no such model")))

    error = assert_failed(outcome, "provider_error")
    assert "invalid_request_error: no such model" in error["detail"]
    [row] = outcome.rows
    assert row["status"] == "error"
    assert_refused_for_free(row)


async def test_an_answer_without_choices(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, empty_answer(server))

    assert_failed(outcome, "provider_bad_response")
    [row] = outcome.rows
    assert row["status"] == "error"
    assert_refused_for_free(row)


async def test_a_4xx_is_rejected_without_retry(api: Api, server: ScriptedLlmServer) -> None:
    outcome = await run_case(api, server, status_reply(400, "max_tokens too large"))

    error = assert_failed(outcome, "provider_rejected")
    assert "HTTP 400: max_tokens too large" in error["detail"]
    [row] = outcome.rows
    assert row["status"] == "error"
    assert_refused_for_free(row)


# --- seen against a real LiteLLM proxy --------------------------------------------------------------


async def test_a_throttling_error_inside_a_200_stream_is_a_rate_limit(api: Api, server: ScriptedLlmServer) -> None:
    # LiteLLM relays the upstream 429 inside the stream, its code a string.
    throttled = server.kit.error_in_stream("throttling_error", "Too many requests", code="429")
    outcome = await run_case(api, server, throttled, server.kit.stream(PIECES, usage=FakeUsage(input=120, output=9)))

    assert (outcome.step["status"], outcome.step["content"]) == ("completed", TEXT)
    assert outcome.statuses == ["rate_limited", "success"]
    limited = next(r for r in outcome.rows if r["status"] == "rate_limited")
    assert limited["error_code"] == "provider_rate_limited"


async def test_a_stream_that_breaks_after_a_placeholder_input_count_estimates_the_input(
    api: Api, loopback: Loopback
) -> None:
    server = loopback.of("anthropic")
    usage = FakeUsage(input=120, output=9)
    cut = server.kit.stream(PIECES[:2], usage=usage, finish=False, done=False, cut=True, input_later=True)
    outcome = await run_case(api, server, *[cut] * ATTEMPTS)

    assert_failed(outcome, "provider_stream_interrupted")
    for row in outcome.rows:  # not the placeholder's 0: the provider saw the whole prompt
        assert row["usage_estimated"] is True
        assert outcome.tokens(row) == (outcome.estimated_input(), 0, estimate_tokens(PARTIAL))


async def test_an_input_count_given_only_at_the_end_is_the_one_recorded(api: Api, loopback: Loopback) -> None:
    server = loopback.of("anthropic")
    outcome = await run_case(
        api, server, server.kit.stream(PIECES, usage=FakeUsage(input=120, output=9), input_later=True)
    )

    [row] = outcome.rows
    assert (row["status"], row["usage_estimated"], outcome.tokens(row)) == ("success", False, (120, 0, 9))


async def test_an_error_row_keeps_the_request_id_a_proxy_names_in_its_own_header(
    api: Api, server: ScriptedLlmServer
) -> None:
    refused = status_reply(400, "bad request", headers={"x-litellm-call-id": "litellm-call-7f3a"})
    outcome = await run_case(api, server, refused)

    assert_failed(outcome, "provider_rejected")
    [row] = outcome.rows
    assert row["request_id"] == "litellm-call-7f3a"
