"""The page in a real headless Chromium: Debian's `chromium` package driven by Playwright for Python.

No browser is downloaded (`playwright install` is never called): `make test` installs the package
when it is missing, and PANTHEON_CHROMIUM may name another Chromium binary. The server is a real
`pantheon serve` process on this module's database; the browser reaches it through a proxy the
tests can cut, to lose the network on purpose. One browser per module, one fresh context per test.
Screenshots of the main views land in `.artifacts/screenshots/` (git-ignored).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.server_process import ROOT, Server
from tests.support.tcp_proxy import CuttableProxy

CHROMIUM = os.environ.get("PANTHEON_CHROMIUM", "/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the rest keeps it from phoning home or doing needless work.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}
API = "/api/v1"
# Streamed `sim-slow` turns take a few seconds, more on a loaded box: wait for what a person would see.
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    process = Server(database_url, PANTHEON_SIM_SLOW_CHUNK_DELAY_S="0.12")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def proxy(server: Server) -> Iterator[CuttableProxy]:
    cuttable = CuttableProxy(server.port)
    yield cuttable
    cuttable.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: run `make test` (it installs Debian's chromium "
            "package when it may), or `sudo apt-get install -y chromium`, or set PANTHEON_CHROMIUM.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


class PageProblems:
    """Uncaught script errors and Content-Security-Policy violations seen by a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.errors.append(f"console: {message.text}")


def open_page(browser: Browser, proxy: CuttableProxy, viewport: dict[str, int]) -> Iterator[Page]:
    context = browser.new_context(base_url=proxy.url, viewport=viewport)
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems = PageProblems(page)
    yield page
    context.close()
    assert problems.errors == [], problems.errors


@pytest.fixture
def page(browser: Browser, proxy: CuttableProxy) -> Iterator[Page]:
    yield from open_page(browser, proxy, DESKTOP)


@pytest.fixture
def phone(browser: Browser, proxy: CuttableProxy) -> Iterator[Page]:
    yield from open_page(browser, proxy, PHONE)


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


class Api:
    """The public API straight to the server, to set up what a test is not about."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.url + API, timeout=30)
        created = self.http.post("/users", json={"email": f"page-{uuid.uuid4().hex[:10]}@example.com"})
        assert created.status_code == 201, created.text
        self.key = created.json()["api_key"]
        self.http.headers["Authorization"] = f"Bearer {self.key}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def room(self, name: str, agents: list[dict[str, str]], **body: Any) -> dict[str, Any]:
        room = self.call("POST", "/rooms", json={"name": name, **body})
        for agent in agents:
            self.call("POST", f"/rooms/{room['id']}/agents", json={"name": agent["agent_key"].title(), **agent})
        return room


def sign_in(page: Page, key: str) -> None:
    """Opens the page with this key already kept (as if pasted earlier)."""
    page.goto("/")
    page.evaluate("key => localStorage.setItem('pantheon.apiKey', key)", key)
    page.reload()
    page.wait_for_selector("#view-rooms:not([hidden])")


def send(page: Page, message: str) -> None:
    page.fill("#message", message)
    page.press("#message", "Enter")
