"""Loopback OpenAI and Anthropic servers on a thread of their own, shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.llm_servers import AnthropicServer, OpenAiServer, ScriptedLlmServer, ServerThread


@dataclass(frozen=True)
class Loopback:
    openai: OpenAiServer
    anthropic: AnthropicServer

    def of(self, kind: str) -> ScriptedLlmServer:
        return self.openai if kind == "openai" else self.anthropic

    def reset(self) -> None:
        self.openai.reset()
        self.anthropic.reset()


@pytest.fixture(scope="module")
def loopback() -> Iterator[Loopback]:
    with ServerThread() as thread:
        yield Loopback(openai=thread.start(OpenAiServer()), anthropic=thread.start(AnthropicServer()))


@pytest.fixture(autouse=True)
def _fresh_script(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with empty scripts and no recorded requests (when the module uses the servers)."""
    servers = request.getfixturevalue("loopback") if "loopback" in request.fixturenames else None
    if servers is not None:
        servers.reset()
    yield
