"""The web page's files over HTTP: what `/` and `/static/…` answer, their policy, and their packaging."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.http.page import STATIC_DIR
from tests.e2e.conftest import API
from tests.support.server_process import ROOT


def policy(header: str) -> dict[str, str]:
    return {d.split()[0]: d.partition(" ")[2] for d in (p.strip() for p in header.split(";")) if d}


async def test_the_page_is_served_at_the_root_with_a_policy_that_allows_only_itself(client: AsyncTestClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/static/app.js">' in response.text
    csp = policy(response.headers["content-security-policy"])
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'" and csp["connect-src"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in response.headers["permissions-policy"]


def test_the_html_has_no_inline_script_style_or_handler() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html, re.IGNORECASE)


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("markdown.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ],
)
async def test_assets_are_served_with_their_type_and_the_same_policy(
    client: AsyncTestClient, name: str, media_type: str
) -> None:
    response = await client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (STATIC_DIR / name).read_bytes()
    assert policy(response.headers["content-security-policy"])["default-src"] == "'self'"


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/..%2Fpage.py", "/static/.hidden.js", "/static/index.html", "/static/app.py"]
)
async def test_anything_else_under_static_is_a_404(client: AsyncTestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_the_api_keeps_its_stricter_policy_and_the_page_is_not_in_the_openapi_document(
    client: AsyncTestClient,
) -> None:
    me = await client.get(f"{API}/me")
    assert me.status_code == 401
    assert policy(me.headers["content-security-policy"])["default-src"] == "'none'"
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)


def test_every_page_file_is_package_data_so_a_wheel_carries_it() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["entrypoints.http"]
    files = [p.relative_to(STATIC_DIR.parent).as_posix() for p in STATIC_DIR.iterdir()]
    assert files and all(any(fnmatch.fnmatch(f, pattern) for pattern in patterns) for f in files), files
