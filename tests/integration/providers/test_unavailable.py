"""A model whose provider has no key: listed as unavailable, and a turn fails only that step, cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.providers.conftest import Loopback
from tests.integration.providers.harness import Api, model_table, provider_app, provider_table
from tests.support.llm_servers import FakeUsage


@pytest.fixture(scope="module")
async def api(database_url: str, loopback: Loopback, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    config = (
        provider_table("oai", loopback.openai, "PANTHEON_TEST_OAI_KEY", timeout_s=5)
        # A configured provider whose key variable is not set is unavailable too.
        + provider_table("keyless", loopback.anthropic, "PANTHEON_TEST_UNSET_KEY", timeout_s=5)
        + model_table("gpt-loop", "oai", "gpt-loopback")
        + model_table("claude-keyless", "keyless", "claude-loopback")
    )
    # OPENROUTER_API_KEY is removed by provider_app; PANTHEON_TEST_UNSET_KEY is never set.
    env = {"PANTHEON_TEST_OAI_KEY": "oai-key-for-unavailable-test"}
    async with provider_app(database_url, tmp_path_factory.mktemp("unavailable"), config, env) as running:
        yield running


async def test_models_show_providers_without_a_key_as_unavailable(api: Api) -> None:
    models = await api.models()

    for alias in ("deepseek", "llama", "qwen", "gpt_oss", "premium"):
        assert (models[alias]["provider"], models[alias]["available"]) == ("openrouter", False), alias
    assert (models["claude-keyless"]["provider"], models["claude-keyless"]["available"]) == ("keyless", False)
    assert models["gpt-loop"]["available"] is True and models["sim"]["available"] is True


async def test_a_turn_fails_the_unconfigured_step_writes_no_row_for_it_and_the_others_answer(
    api: Api, loopback: Loopback
) -> None:
    loopback.openai.script(loopback.openai.kit.stream(["Still ", "here."], usage=FakeUsage(input=40, output=3)))
    session = await api.roundtable(
        ("seeker", "deepseek", "You are a researcher."),
        ("sage", "sim", "You are wise."),
        ("gpt", "gpt-loop", "You are an engineer."),
        ("nokey", "claude-keyless", "You are an editor."),
    )

    turn = await api.turn(session, "Is anyone there?")

    assert turn["status"] == "partial"
    steps = {s["agent_key"]: s for s in turn["steps"]}
    for key, alias, variable in (
        ("seeker", "deepseek", "OPENROUTER_API_KEY"),
        ("nokey", "claude-keyless", "PANTHEON_TEST_UNSET_KEY"),
    ):
        step = steps[key]
        assert (step["status"], step["content"], step["error"]["code"]) == ("failed", "", "provider_not_configured")
        assert alias in step["error"]["detail"] and variable in step["error"]["detail"]
        assert step["usage"] == {"input_tokens": 0, "cached_input_tokens": 0, "output_tokens": 0, "credits": "0.0000"}
    assert (steps["sage"]["status"], steps["gpt"]["status"]) == ("completed", "completed")
    assert steps["gpt"]["content"] == "Still here."
    rows = await api.ledger(turn["id"])
    assert sorted((r["agent_key"], r["status"]) for r in rows) == [("gpt", "success"), ("sage", "success")]
    await api.check_accounting(turn, rows)
    assert loopback.anthropic.requests == []  # nothing was sent to the provider without a key
    # The failure is visible in the session's messages too, as an error message of that agent.
    messages = await api.call("GET", f"/sessions/{session}/messages", expect=200)
    statuses = {m["agent_key"]: m["status"] for m in messages["items"] if m["role"] == "assistant"}
    assert statuses == {"seeker": "error", "sage": "ok", "gpt": "ok", "nokey": "error"}
