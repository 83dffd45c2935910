"""A real `pantheon serve` process on a free port, for tests that need several processes or a kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if k not in ("OPENROUTER_API_KEY", "PANTHEON_CONFIG")}
        environment.update(
            PANTHEON_DATABASE_URL=database_url, PANTHEON_PORT=str(self.port), PANTHEON_LOG_LEVEL="WARNING", **env
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.process.stderr.read().decode() if self.process.stderr else "server died")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def api_call(
    server: Server, method: str, path: str, headers: dict[str, str] | None = None, *, timeout: float = 30, **kwargs: Any
) -> Any:
    """One request to `server`'s /api/v1, which must succeed (2xx); its JSON body, if any."""
    response = httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=timeout, **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None
