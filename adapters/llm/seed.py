"""The built-in catalog, written as the same TOML-shaped tables a config file uses.

A config file's `[providers.NAME]` / `[models.ALIAS]` table is merged key by key over these, so
`[providers.openrouter] max_retries = 4` tunes the built-in without restating it.
"""

from __future__ import annotations

from typing import Any

SIMULATED_PROVIDER = "simulated"
OPENROUTER_PROVIDER = "openrouter"

BUILTIN_PROVIDERS: dict[str, dict[str, Any]] = {
    SIMULATED_PROVIDER: {"kind": "simulated"},
    OPENROUTER_PROVIDER: {
        "kind": "openai",
        "base_url": "https://openrouter.ai/api/v1",
        "api_key_env": "OPENROUTER_API_KEY",
    },
}

# alias -> (OpenRouter model id, context window). The seed pricing version prices these aliases.
_OPENROUTER_MODELS: dict[str, tuple[str, int]] = {
    "deepseek": ("deepseek/deepseek-chat-v3.1", 163_840),
    "llama": ("meta-llama/llama-3.3-70b-instruct", 131_072),
    "qwen": ("qwen/qwen3-235b-a22b-2507", 262_144),
    "gpt_oss": ("openai/gpt-oss-120b", 131_072),
    "kimi": ("moonshotai/kimi-k2-0905", 262_144),
    "glm": ("z-ai/glm-4.6", 202_752),
    "gpt-5-mini": ("openai/gpt-5-mini", 400_000),
    "gpt-4.1": ("openai/gpt-4.1", 1_047_576),
    "gpt-4o": ("openai/gpt-4o", 128_000),
    "gpt-5": ("openai/gpt-5", 400_000),
    "gpt-5.2": ("openai/gpt-5.2", 400_000),
    "gemini-pro": ("google/gemini-2.5-pro", 1_048_576),
    "claude-sonnet": ("anthropic/claude-sonnet-4.5", 200_000),
    "grok": ("x-ai/grok-4", 256_000),
    "claude-opus": ("anthropic/claude-opus-4.5", 200_000),
    # A strong general model for callers that ask for "the best one" (e.g. an orchestrator manager).
    "premium": ("openai/gpt-5", 400_000),
}

SIM_CONTEXT_WINDOW = 32_768

BUILTIN_MODELS: dict[str, dict[str, Any]] = {
    "sim": {"provider": SIMULATED_PROVIDER, "provider_model": "pantheon-sim", "context_window": SIM_CONTEXT_WINDOW},
    "sim-slow": {
        "provider": SIMULATED_PROVIDER,
        "provider_model": "pantheon-sim-slow",
        "context_window": SIM_CONTEXT_WINDOW,
    },
    **{
        alias: {"provider": OPENROUTER_PROVIDER, "provider_model": model_id, "context_window": window}
        for alias, (model_id, window) in _OPENROUTER_MODELS.items()
    },
}
