"""Credits over HTTP on a real PostgreSQL: the wallet a user sees, a turn's debits, 402 with nothing
written, a step refused for want of credit, caps, grants with idempotency, suspension, the admin
routes and their audit log, the per-minute rate limit (docs/http-api.md, Credits, Limits, Admin)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from entrypoints.admin_cli import create_admin
from entrypoints.settings import Settings
from tests.e2e.conftest import (
    API,
    ISOLATED_ENV,
    add_agent,
    assert_error,
    auth_headers,
    bearer,
    build_client,
    create_room,
    open_session,
    sign_up,
    unique_email,
)
from tests.support.wallet import wallet_figures, wallets_out_of_line

BIG_ROLE = "You weigh every option carefully. " * 450  # ~15,000 chars: a worst case of about 0.37 credits


@pytest.fixture(scope="module")
async def poor(database_url: str) -> AsyncIterator[AsyncTestClient]:
    """A server whose new users start with 0.3 credits: about one sim call's worst case."""
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED_ENV:
            env.delenv(name, raising=False)
        async with build_client(database_url, starting_credits=Decimal("0.3")) as test_client:
            yield test_client


async def admin_headers(database_url: str) -> dict[str, str]:
    key, created = await create_admin(database_url, unique_email("admin"), Settings())
    assert created
    return bearer(key)


async def a_room(
    client: AsyncTestClient, headers: dict[str, str], *agents: tuple[str, str], mode: str = "roundtable"
) -> str:
    room = await create_room(client, headers, mode=mode)
    for key, role in agents:
        await add_agent(client, headers, room["id"], key, role_prompt=role)
    return (await open_session(client, headers, room["id"]))["id"]


async def me(client: AsyncTestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{API}/me", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_new_user_sees_the_starting_grant_and_each_turn_is_debited(client: AsyncTestClient) -> None:
    headers = await auth_headers(client, "wallet")
    assert (await me(client, headers))["credits"] == {
        "balance": "100.0000",
        "reserved": "0.0000",
        "available": "100.0000",
        "monthly_cap": None,
        "spent_this_month": "0.0000",
    }
    session = await a_room(client, headers, ("ada", "Be brief."), ("bob", "Be bold."))
    turn = (await client.post(f"{API}/sessions/{session}/turns", json={"message": "go"}, headers=headers)).json()
    spent = Decimal(turn["usage"]["credits"])
    assert spent > 0
    credits = (await me(client, headers))["credits"]
    assert Decimal(credits["balance"]) == 100 - spent and Decimal(credits["spent_this_month"]) == spent
    assert credits["reserved"] == "0.0000" and credits["available"] == credits["balance"]

    page = (await client.get(f"{API}/credits/transactions", headers=headers, params={"limit": 2})).json()
    rows = (await client.get(f"{API}/usage/events", headers=headers)).json()["items"]
    # Newest first: the two debits (one per ledger row, linked to it), then, on the next page, the grant.
    assert [t["kind"] for t in page["items"]] == ["debit", "debit"]
    assert {t["llm_call_event_id"] for t in page["items"]} == {r["id"] for r in rows}
    assert sorted(Decimal(t["amount"]) for t in page["items"]) == sorted(-Decimal(r["credits_burned"]) for r in rows)
    rest = (
        await client.get(f"{API}/credits/transactions", headers=headers, params={"cursor": page["next_cursor"]})
    ).json()
    assert [(t["kind"], t["amount"], t["reason"], t["actor"]) for t in rest["items"]] == [
        ("grant", "100.0000", "starting grant", "system")
    ]
    assert rest["next_cursor"] is None


async def test_a_turn_that_cannot_afford_its_first_call_answers_402_and_writes_nothing(
    poor: AsyncTestClient, database_url: str
) -> None:
    headers = await auth_headers(poor, "broke")
    session = await a_room(poor, headers, ("sage", BIG_ROLE))  # its first call's worst case > 0.3
    response = await poor.post(f"{API}/sessions/{session}/turns", json={"message": "@sage hi"}, headers=headers)
    body = assert_error(response, 402, "insufficient_credits")
    assert Decimal(body["extra"]["required_credits"]) > Decimal("0.3")
    assert (await poor.get(f"{API}/sessions/{session}/turns", headers=headers)).json()["items"] == []
    assert (await poor.get(f"{API}/usage/events", headers=headers)).json()["items"] == []
    assert (await poor.get(f"{API}/sessions/{session}", headers=headers)).json()["turn_count"] == 0
    user_id = (await me(poor, headers))["id"]
    figures = wallet_figures(database_url, user_id)
    assert (figures.balance, figures.reserved, figures.reservations) == (Decimal("0.3"), 0, 0)


async def test_a_later_step_that_cannot_be_reserved_fails_and_is_not_sent(
    poor: AsyncTestClient, database_url: str
) -> None:
    headers = await auth_headers(poor, "thrifty")
    # ada's call fits 0.3 credits; afterwards sage's worst case (a long role prompt) no longer does.
    session = await a_room(poor, headers, ("ada", "Be brief."), ("sage", BIG_ROLE))
    response = await poor.post(f"{API}/sessions/{session}/turns", json={"message": "go"}, headers=headers)
    assert response.status_code == 201, response.text
    turn = response.json()
    assert turn["status"] == "partial"
    assert [(s["agent_key"], s["status"]) for s in turn["steps"]] == [("ada", "completed"), ("sage", "failed")]
    assert turn["steps"][1]["error"]["code"] == "insufficient_credits"
    rows = (await poor.get(f"{API}/usage/events", headers=headers, params={"turn_id": turn["id"]})).json()["items"]
    assert [r["agent_key"] for r in rows] == ["ada"]  # sage was never called
    figures = wallet_figures(database_url, (await me(poor, headers))["id"])
    assert figures.balance == Decimal("0.3") - Decimal(rows[0]["credits_burned"]) > 0
    assert (figures.reserved, figures.reservations) == (0, 0)


async def test_grants_are_credited_once_per_idempotency_key_and_audited(
    client: AsyncTestClient, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    user = await sign_up(client, "customer")
    target = user["user"]["id"]
    grant = {"amount": "25.5", "reason": "top-up, invoice 7", "idempotency_key": "invoice-7"}
    first = await client.post(f"{API}/admin/users/{target}/grants", json=grant, headers=admin)
    assert first.status_code == 201, first.text
    again = await client.post(f"{API}/admin/users/{target}/grants", json=grant, headers=admin)
    assert again.status_code == 200 and again.json() == first.json()
    tx = first.json()
    assert (tx["kind"], tx["amount"], tx["reason"], tx["llm_call_event_id"]) == (
        "grant",
        "25.5000",
        "top-up, invoice 7",
        None,
    )
    assert tx["actor"] == (await me(client, admin))["id"]
    assert (await me(client, bearer(user["api_key"])))["credits"]["balance"] == "125.5000"
    # A negative amount is a manual adjustment.
    fix = {"amount": "-0.5", "reason": "correction", "idempotency_key": "fix-1"}
    adjusted = await client.post(f"{API}/admin/users/{target}/grants", json=fix, headers=admin)
    assert adjusted.status_code == 201 and adjusted.json()["kind"] == "adjustment"
    assert (await me(client, bearer(user["api_key"])))["credits"]["balance"] == "125.0000"

    audit = (await client.get(f"{API}/admin/audit", headers=admin)).json()["items"]
    mine = [e for e in audit if e["target_user_id"] == target]
    assert [(e["action"], e["before"]["balance"], e["after"]["balance"]) for e in mine] == [
        ("grant", "125.5000", "125.0000"),
        ("grant", "100.0000", "125.5000"),
    ]
    for bad in (
        {"amount": "0", "reason": "r", "idempotency_key": "k"},
        {"amount": "1.00001", "reason": "r", "idempotency_key": "k"},
    ):
        assert_error(
            await client.post(f"{API}/admin/users/{target}/grants", json=bad, headers=admin), 422, "validation_error"
        )
    missing = await client.post(
        f"{API}/admin/users/{'0' * 8}-0000-0000-0000-{'0' * 12}/grants", json=grant, headers=admin
    )
    assert_error(missing, 404, "not_found")


async def test_admin_routes_refuse_other_users(client: AsyncTestClient) -> None:
    headers = await auth_headers(client, "nosy")
    some_id = (await me(client, headers))["id"]
    for method, path, body in [
        ("GET", "/admin/users", None),
        ("POST", f"/admin/users/{some_id}/grants", {"amount": "9", "reason": "me", "idempotency_key": "x"}),
        ("PUT", f"/admin/users/{some_id}/cap", {"monthly_credits": None}),
        ("POST", f"/admin/users/{some_id}/suspend", None),
        ("POST", f"/admin/users/{some_id}/reactivate", None),
        ("GET", "/admin/usage", None),
        ("GET", "/admin/usage.csv", None),
        ("GET", "/admin/audit", None),
    ]:
        response = await client.request(method, f"{API}{path}", json=body, headers=headers)
        assert_error(response, 403, "forbidden")
    assert (await me(client, headers))["credits"]["balance"] == "100.0000"


async def test_a_monthly_cap_at_what_was_spent_acts_like_an_empty_wallet(
    client: AsyncTestClient, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    user = await sign_up(client, "capped")
    headers, target = bearer(user["api_key"]), user["user"]["id"]
    session = await a_room(client, headers, ("ada", "Be brief."))
    assert (
        await client.post(f"{API}/sessions/{session}/turns", json={"message": "@ada one"}, headers=headers)
    ).status_code == 201
    spent = (await me(client, headers))["credits"]["spent_this_month"]
    capped = await client.put(f"{API}/admin/users/{target}/cap", json={"monthly_credits": spent}, headers=admin)
    assert capped.status_code == 200, capped.text
    assert capped.json()["credits"]["monthly_cap"] == spent and capped.json()["credits"]["available"] == "0.0000"
    refused = await client.post(f"{API}/sessions/{session}/turns", json={"message": "@ada two"}, headers=headers)
    assert_error(refused, 402, "insufficient_credits")
    lifted = await client.put(f"{API}/admin/users/{target}/cap", json={"monthly_credits": None}, headers=admin)
    assert lifted.json()["credits"]["monthly_cap"] is None
    assert (
        await client.post(f"{API}/sessions/{session}/turns", json={"message": "@ada two"}, headers=headers)
    ).status_code == 201
    actions = [
        e["action"]
        for e in (await client.get(f"{API}/admin/audit", headers=admin)).json()["items"]
        if e["target_user_id"] == target
    ]
    assert actions == ["set_cap", "set_cap"]


async def test_a_suspended_users_key_is_refused_everywhere_until_reactivated(
    client: AsyncTestClient, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    user = await sign_up(client, "suspect")
    headers, target = bearer(user["api_key"]), user["user"]["id"]
    assert (await client.get(f"{API}/rooms", headers=headers)).status_code == 200  # cached as active
    suspended = await client.post(f"{API}/admin/users/{target}/suspend", headers=admin)
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    for path in ("/me", "/rooms", "/usage/events", "/credits/transactions"):
        assert_error(await client.get(f"{API}{path}", headers=headers), 403, "forbidden")
    assert_error(await client.post(f"{API}/rooms", json={"name": "x"}, headers=headers), 403, "forbidden")
    listed = (await client.get(f"{API}/admin/users", headers=admin, params={"limit": 500})).json()["items"]
    assert next(a for a in listed if a["id"] == target)["suspended"] is True
    back = await client.post(f"{API}/admin/users/{target}/reactivate", headers=admin)
    assert back.json()["suspended"] is False
    assert (await client.get(f"{API}/me", headers=headers)).status_code == 200
    audit = (await client.get(f"{API}/admin/audit", headers=admin)).json()["items"]
    entries = [
        (e["action"], e["before"]["suspended"], e["after"]["suspended"]) for e in audit if e["target_user_id"] == target
    ]
    assert entries == [("reactivate", True, False), ("suspend", False, True)]


async def test_usage_across_users_by_user_model_and_day_with_margin_and_csv(
    client: AsyncTestClient, database_url: str
) -> None:
    admin = await admin_headers(database_url)
    headers = await auth_headers(client, "spender")
    user_id = (await me(client, headers))["id"]
    session = await a_room(client, headers, ("ada", "Be brief."))
    await client.post(f"{API}/sessions/{session}/turns", json={"message": "@ada hi"}, headers=headers)
    rows = (await client.get(f"{API}/usage/events", headers=headers)).json()["items"]
    by_user = (await client.get(f"{API}/admin/usage", headers=admin, params={"group_by": "user"})).json()["items"]
    mine = next(i for i in by_user if i["key"] == user_id)
    credits = sum(Decimal(r["credits_burned"]) for r in rows)
    cost = sum(Decimal(r["provider_cost_usd"]) for r in rows)
    assert (mine["llm_calls"], Decimal(mine["credits"])) == (len(rows), credits)
    assert Decimal(mine["margin_usd"]) == credits * Decimal("0.03") - cost  # the seeded overage price
    day = rows[0]["created_at"][:10]
    by_day = (
        await client.get(f"{API}/admin/usage", headers=admin, params={"group_by": "day", "from": day, "to": day})
    ).json()
    assert [i["key"] for i in by_day["items"]] == [day] and by_day["items"][0]["active_users"] >= 1
    by_model = (await client.get(f"{API}/admin/usage", headers=admin, params={"group_by": "model"})).json()["items"]
    assert "sim" in {i["key"] for i in by_model}
    none = (
        await client.get(f"{API}/admin/usage", headers=admin, params={"from": "2001-01-01", "to": "2001-01-31"})
    ).json()
    assert none["items"] == []
    assert_error(
        await client.get(f"{API}/admin/usage", headers=admin, params={"from": "2026-13-01"}), 422, "validation_error"
    )

    exported = await client.get(f"{API}/admin/usage.csv", headers=admin, params={"from": day, "to": day})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert set(lines[0]) >= {"id", "call_id", "user_id", "credits_burned", "pricing_version", "purpose", "status"}
    mine_csv = [line for line in lines if line["user_id"] == user_id]
    assert [(line["id"], line["credits_burned"]) for line in mine_csv] == [(r["id"], r["credits_burned"]) for r in rows]


async def test_every_wallet_matches_its_ledger(client: AsyncTestClient, database_url: str) -> None:
    # Run last in the module: whatever the tests above did, Σ debits = Σ credits_burned for every user,
    # balance = Σ transactions and reserved = Σ reservations.
    assert wallets_out_of_line(database_url) == []
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM credit_reservations").fetchone()[0] == 0


async def test_requests_past_the_per_minute_rate_answer_429(database_url: str) -> None:
    async with build_client(database_url, rate_limit_per_minute=3) as limited:
        headers = await auth_headers(limited, "hasty")
        for _ in range(3):
            assert (await limited.get(f"{API}/me", headers=headers)).status_code == 200
        response = await limited.get(f"{API}/rooms", headers=headers)
        body = assert_error(response, 429, "rate_limited")
        assert body["extra"] == {"limit": 3} and int(response.headers["retry-after"]) >= 1
        assert (await limited.get(f"{API}/me", headers=await auth_headers(limited, "other"))).status_code == 200


async def test_the_openai_endpoint_answers_402_and_403_in_openai_shape(
    poor: AsyncTestClient, database_url: str
) -> None:
    headers = await auth_headers(poor, "openai-broke")
    room = await create_room(poor, headers)
    await add_agent(poor, headers, room["id"], "sage", role_prompt=BIG_ROLE)
    body = {"model": f"room-{room['id']}", "messages": [{"role": "user", "content": "@sage hi"}]}
    refused = await poor.post("/v1/chat/completions", json=body, headers=headers)
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "insufficient_credits"
    assert (await poor.get(f"{API}/rooms/{room['id']}/sessions", headers=headers)).json()["items"] == []
    admin = await admin_headers(database_url)
    user_id = (await me(poor, headers))["id"]
    assert (await poor.post(f"{API}/admin/users/{user_id}/suspend", headers=admin)).status_code == 200
    forbidden = await poor.get("/v1/models", headers=headers)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
