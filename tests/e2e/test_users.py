"""Service health, sign-up and API-key authentication over HTTP."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from entrypoints.logs import JsonFormatter
from tests.e2e.conftest import API, assert_error, bearer, build_client, sign_up, unique_email


async def test_healthz_answers_ok_with_the_pools_figures(client: AsyncTestClient) -> None:
    before = (await client.get("/healthz")).json()["pool"]["checkouts"]
    response = await client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["pool"]["max"] == 4  # db_pool_max of the test app
    assert body["pool"]["checkouts"] == before + 1 and body["pool"]["waiting"] == 0


async def test_sign_up_shows_the_user_and_a_long_random_key_once(client: AsyncTestClient) -> None:
    email = unique_email("ada")
    response = await client.post(f"{API}/users", json={"email": email, "display_name": "Ada"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "api_key"}
    user = body["user"]
    assert {"id", "email", "display_name", "created_at"} <= set(user)
    assert (user["email"], user["display_name"]) == (email, "Ada")
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None
    secret = body["api_key"].removeprefix("pk_")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    assert len(secret) * 6 >= 128  # url-safe base64 carries 6 random bits per character


async def test_every_sign_up_gets_its_own_key(client: AsyncTestClient) -> None:
    first, second = await sign_up(client), await sign_up(client)

    assert first["api_key"] != second["api_key"]


async def test_display_name_is_optional(client: AsyncTestClient) -> None:
    response = await client.post(f"{API}/users", json={"email": unique_email()})

    assert response.status_code == 201
    assert response.json()["user"]["display_name"] is None


async def test_me_answers_the_owner_of_the_key(client: AsyncTestClient) -> None:
    created = await sign_up(client, "grace")

    response = await client.get(f"{API}/me", headers=bearer(created["api_key"]))

    assert response.status_code == 200
    me = response.json()
    assert {k: me[k] for k in ("id", "email", "display_name", "created_at")} == created["user"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer pk_this-key-was-never-issued-by-this-server"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["missing", "wrong key", "empty bearer", "basic scheme"],
)
async def test_a_missing_or_wrong_key_is_unauthorized(client: AsyncTestClient, headers: dict[str, str]) -> None:
    assert_error(await client.get(f"{API}/me", headers=headers), 401, "unauthorized")
    assert_error(await client.get(f"{API}/rooms", headers=headers), 401, "unauthorized")


async def test_a_key_sent_without_the_bearer_scheme_is_unauthorized(client: AsyncTestClient) -> None:
    key = (await sign_up(client))["api_key"]

    assert_error(await client.get(f"{API}/me", headers={"Authorization": key}), 401, "unauthorized")


async def test_an_e_mail_signs_up_once_whatever_its_case(client: AsyncTestClient) -> None:
    email = unique_email("twin")
    assert (await client.post(f"{API}/users", json={"email": email})).status_code == 201

    assert_error(await client.post(f"{API}/users", json={"email": email}), 409, "email_taken")
    assert_error(await client.post(f"{API}/users", json={"email": email.upper()}), 409, "email_taken")


async def test_closed_sign_up_is_forbidden_and_creates_nobody(client: AsyncTestClient, database_url: str) -> None:
    email = unique_email("closed")
    existing = await sign_up(client, "existing")

    async with build_client(database_url, open_signup=False) as closed:
        assert_error(await closed.post(f"{API}/users", json={"email": email}), 403, "forbidden")
        # Switching sign-up off does not lock out the users who already have a key.
        assert (await closed.get(f"{API}/me", headers=bearer(existing["api_key"]))).status_code == 200

    assert (await client.post(f"{API}/users", json={"email": email})).status_code == 201


async def test_the_key_is_stored_only_as_its_sha256(client: AsyncTestClient, database_url: str) -> None:
    created = await sign_up(client)
    key = created["api_key"]

    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT key_hash FROM api_keys WHERE user_id = %s", (created["user"]["id"],)).fetchall()
        dump = conn.execute(
            "SELECT concat_ws('|', u::text, k::text) FROM users u JOIN api_keys k ON k.user_id = u.id WHERE u.id = %s",
            (created["user"]["id"],),
        ).fetchone()[0]
    assert [bytes(row[0]) for row in stored] == [hashlib.sha256(key.encode()).digest()]
    assert key not in dump and key.removeprefix("pk_") not in dump


async def test_an_api_key_never_reaches_the_logs(client: AsyncTestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    created = await sign_up(client, "secretive")
    key = created["api_key"]
    assert (await client.get(f"{API}/me", headers=bearer(key))).status_code == 200
    assert (await client.get(f"{API}/rooms/not-a-uuid", headers=bearer(key))).status_code == 404
    assert (await client.get(f"{API}/me", headers=bearer(key + "x"))).status_code == 401

    records = caplog.records
    assert any(r.name == "pantheon.http" for r in records), "the access log should have been captured"
    formatter = JsonFormatter()
    for record in records:
        # Both the raw record (whatever a handler may print) and the server's JSON line.
        raw = json.dumps(record.__dict__, default=str)
        assert key not in raw and key.removeprefix("pk_") not in raw
        assert key.removeprefix("pk_") not in formatter.format(record)
