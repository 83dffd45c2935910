"""Baseline HTTP hardening: bounded request heads, security headers and a request id on every answer."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.e2e.conftest import API, auth_headers
from tests.support.server_process import Server

BASELINE = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", f"{API}/me", 401),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/healthz", 405),
        ("POST", f"{API}/users", 400),
    ],
)
async def test_every_answer_carries_a_request_id_and_the_security_headers(
    client: AsyncTestClient, method: str, path: str, status: int
) -> None:
    body = {"content": b"{", "headers": {"content-type": "application/json"}} if method == "POST" else {}
    response = await client.request(method, path, **body)
    assert response.status_code == status
    assert {k: response.headers.get(k) for k in BASELINE} == BASELINE
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_an_authenticated_answer_is_never_cached(client: AsyncTestClient) -> None:
    response = await client.get(f"{API}/me", headers=await auth_headers(client))
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-42.a:b_c", True),
        ('abc"def<script>', False),
        ("x" * 65, False),
        ("two words", False),
        ("", False),
    ],
)
async def test_a_clients_request_id_is_kept_only_when_it_is_a_short_safe_token(
    client: AsyncTestClient, sent: str, kept: bool
) -> None:
    echoed = (await client.get("/healthz", headers={"x-request-id": sent})).headers["x-request-id"]
    if kept:
        assert echoed == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    process = Server(database_url)
    yield process
    process.stop()


def raw_request(server: Server, head: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        try:
            conn.sendall(head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and hung up before reading everything: that is the point
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def test_an_oversized_request_head_is_refused_before_any_work(server: Server) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: " + b"a" * (64 * 1024 * 1024) + b"\r\n\r\n"
    answer, took = raw_request(server, huge)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code":"headers_too_large"' in answer and took < 5.0  # unbounded, it froze the server ~6 s
    long_url = b"GET /healthz?" + b"q" * 40_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n"
    assert raw_request(server, long_url)[0].startswith(b"HTTP/1.1 431 ")
    # Reasonable heads and large bodies are served as usual.
    fine = httpx.get(f"{server.url}/healthz", headers={"x-filler": "a" * 16_000})
    assert fine.status_code == 200
    body = {"email": "big@example.com", "display_name": "x" * 100}
    big = httpx.post(
        f"{server.url}{API}/users",
        content=httpx.Request("POST", "/", json=body).content + b" " * 900_000,
        headers={"content-type": "application/json"},
    )
    assert big.status_code == 201, big.text


def test_the_server_does_not_name_itself(server: Server) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert "server" not in response.headers and response.headers["x-content-type-options"] == "nosniff"
