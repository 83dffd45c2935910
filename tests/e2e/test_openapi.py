"""The OpenAPI document describes every /api/v1 route with the error answers it can give."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

BODY_ERRORS = {400, 413, 415, 422}
# path -> method -> (success status, error statuses the route must declare)
EXPECTED: dict[str, dict[str, tuple[int, set[int]]]] = {
    "/api/v1/users": {"post": (201, {403, 409} | BODY_ERRORS)},
    "/api/v1/me": {"get": (200, {401, 403, 429})},
    "/api/v1/models": {"get": (200, {401})},
    "/api/v1/pricing": {"get": (200, {401})},
    "/api/v1/pricing/{version}": {"get": (200, {401, 404})},
    "/api/v1/rooms": {"get": (200, {401}), "post": (201, {401} | BODY_ERRORS)},
    "/api/v1/rooms/{room_id}": {
        "get": (200, {401, 404}),
        "patch": (200, {401, 404} | BODY_ERRORS),
        "delete": (204, {401, 404}),
    },
    "/api/v1/rooms/{room_id}/mode": {"put": (200, {401, 404} | BODY_ERRORS)},
    "/api/v1/rooms/{room_id}/agents": {"get": (200, {401, 404}), "post": (201, {401, 404, 409} | BODY_ERRORS)},
    "/api/v1/rooms/{room_id}/agents/{agent_id}": {
        "patch": (200, {401, 404} | BODY_ERRORS),
        "delete": (204, {401, 404}),
    },
    "/api/v1/rooms/{room_id}/sessions": {"get": (200, {401, 404}), "post": (201, {401, 404} | BODY_ERRORS)},
    "/api/v1/sessions/{session_id}": {"get": (200, {401, 404})},
    "/api/v1/sessions/{session_id}/messages": {"get": (200, {401, 404})},
    "/api/v1/sessions/{session_id}/turns": {
        "get": (200, {401, 404}),
        "post": (201, {401, 402, 404, 409, 429} | BODY_ERRORS),
    },
    "/api/v1/sessions/{session_id}/turns/{turn_id}": {"get": (200, {401, 404})},
    "/api/v1/sessions/{session_id}/turns/{turn_id}/context": {"get": (200, {401, 404})},
    "/api/v1/sessions/{session_id}/summary": {"get": (200, {401, 404})},
    "/api/v1/usage/events": {"get": (200, {401, 422})},
    "/api/v1/usage/summary": {"get": (200, {401, 422})},
    # The OpenAI-compatible entrypoint (its error bodies carry OpenAI's `error` beside status/code/detail).
    "/v1/models": {"get": (200, {401})},
    "/v1/models/{model}": {"get": (200, {401, 404})},
    "/v1/chat/completions": {"post": (200, {401, 404, 409} | BODY_ERRORS)},
    "/api/v1/credits/transactions": {"get": (200, {401, 422})},
    "/api/v1/admin/users": {"get": (200, {401, 403, 422})},
    "/api/v1/admin/users/{user_id}/grants": {"post": (201, {401, 403, 404} | BODY_ERRORS)},
    "/api/v1/admin/users/{user_id}/cap": {"put": (200, {401, 403, 404} | BODY_ERRORS)},
    "/api/v1/admin/users/{user_id}/suspend": {"post": (200, {401, 403, 404})},
    "/api/v1/admin/users/{user_id}/reactivate": {"post": (200, {401, 403, 404})},
    "/api/v1/admin/usage": {"get": (200, {401, 403, 422})},
    "/api/v1/admin/usage.csv": {"get": (200, {401, 403, 422})},
    "/api/v1/admin/audit": {"get": (200, {401, 403, 422})},
}
OPERATIONS = [(path, method) for path, methods in EXPECTED.items() for method in methods]


@pytest.fixture(scope="module")
async def document(client: AsyncTestClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert "bearer" in document["components"]["securitySchemes"]


def test_every_api_route_is_listed_with_its_methods(document: dict[str, Any]) -> None:
    listed = {path: set(ops) & {"get", "post", "put", "patch", "delete"} for path, ops in document["paths"].items()}

    for path, methods in EXPECTED.items():
        assert listed.get(path, set()) >= set(methods), path
    assert "/healthz" in listed


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_each_operation_declares_its_success_and_error_answers(
    document: dict[str, Any], path: str, method: str
) -> None:
    success, errors = EXPECTED[path][method]
    declared = {int(status) for status in document["paths"][path][method]["responses"]}

    assert success in declared
    assert errors <= declared, sorted(errors - declared)


@pytest.mark.parametrize(("path", "method"), [op for op in OPERATIONS if op != ("/api/v1/users", "post")])
def test_authenticated_operations_require_the_bearer_key(document: dict[str, Any], path: str, method: str) -> None:
    assert {"bearer": []} in document["paths"][path][method].get("security", document.get("security", []))


def test_error_answers_are_described_with_the_error_body(document: dict[str, Any]) -> None:
    response = document["paths"]["/api/v1/rooms/{room_id}"]["get"]["responses"]["404"]
    schema = response["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]

    assert {"status", "code", "detail"} <= set(schema["properties"])


def test_sign_up_is_documented_as_needing_no_key(document: dict[str, Any]) -> None:
    # An empty requirement object means "no authentication" is one acceptable way to call it.
    assert {} in document["paths"]["/api/v1/users"]["post"].get("security", [{}])


async def test_the_document_describes_orchestrated_turns_and_ledger_purposes(client: AsyncTestClient) -> None:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    step = next(s for name, s in schemas.items() if name.endswith("TurnStep"))
    assert {"decision", "instruction"} <= set(step["properties"])
    turn = next(s for name, s in schemas.items() if name.endswith("Turn") and "steps" in s.get("properties", {}))
    assert "orchestration" in turn["properties"]
    actions = {str(s.get("properties", {}).get("action")) for s in schemas.values()}
    assert any("call_agent" in a for a in actions) and any("finish" in a for a in actions)
    event = next(s for s in schemas.values() if "call_id" in s.get("properties", {}) and "purpose" in s["properties"])
    assert set(event["properties"]["purpose"]["enum"]) >= {"agent", "manager", "synthesis"}


async def test_the_document_describes_wallets_and_the_admin_shapes(client: AsyncTestClient) -> None:
    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    credits = next(s for name, s in schemas.items() if name.endswith("CreditsOut"))
    assert set(credits["properties"]) == {"balance", "reserved", "available", "monthly_cap", "spent_this_month"}
    tx = next(s for name, s in schemas.items() if name.endswith("CreditTransaction"))
    assert set(tx["properties"]) == {"id", "kind", "amount", "reason", "llm_call_event_id", "actor", "created_at"}
    assert set(tx["properties"]["kind"]["enum"]) == {"grant", "debit", "adjustment"}
    usage = next(s for name, s in schemas.items() if name.endswith("AdminUsage"))
    assert {"key", "llm_calls", "credits", "provider_cost_usd", "margin_usd"} <= set(usage["properties"])
    audit = next(s for name, s in schemas.items() if name.endswith("AuditEntry"))
    assert {"actor_id", "action", "target_user_id", "before", "after"} <= set(audit["properties"])
