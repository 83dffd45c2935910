"""Bridges the container into Litestar's DI: one plain provider function per use case."""

from __future__ import annotations

import inspect
from typing import Any
from uuid import UUID

from dependency_injector import providers
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers import BaseRouteHandler

from domain.errors import NotFound
from domain.model import User

USE_CASES = (
    "register_user",
    "authenticate",
    "create_room",
    "list_rooms",
    "get_room",
    "update_room",
    "change_mode",
    "delete_room",
    "add_agent",
    "list_agents",
    "update_agent",
    "remove_agent",
    "open_session",
    "list_sessions",
    "get_session",
    "list_messages",
    "list_models",
    "list_pricing",
    "get_pricing",
    "send_message",
    "read_turn_events",
    "turn_feeds",
    "list_turns",
    "get_turn",
    "get_summary",
    "get_turn_context",
    "stop_turn",
    "list_usage_events",
    "usage_summary",
    "start_conversation_turn",
    "show_credits",
    "list_transactions",
    "list_accounts",
    "grant_credits",
    "set_cap",
    "suspend_user",
    "usage_report",
    "export_ledger",
    "list_audit",
)


async def resolve(provider: providers.Provider[Any]) -> Any:
    """Anything built on an async Resource (the pool) comes back as an awaitable from the container."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


def _wrap(provider: providers.Provider[Any]) -> Provide:
    async def dependency() -> Any:
        return await resolve(provider)

    return Provide(dependency)


async def authenticated(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A guard: the caller's API key, checked before anything about the request is looked at.
    Routes marked `opt={"public": True}` (sign-up) need none."""
    if handler.opt.get("public"):
        return
    authenticate = await resolve(connection.app.state.container.authenticate)
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    user = await authenticate.execute(token.strip() if scheme.lower() == "bearer" else None)
    connection.state.user = user


def current_user(request: Request[Any, Any, Any]) -> User:
    return request.state.user  # type: ignore[no-any-return]


def dependencies_from(container: Any, names: tuple[str, ...] = USE_CASES) -> dict[str, Provide]:
    deps = {name: _wrap(getattr(container, name)) for name in (*names, "settings")}
    deps["user"] = Provide(current_user, sync_to_thread=False)
    return deps


def parse_id(raw: str) -> UUID:
    """A malformed id in a path answers like a missing resource (docs/http-api.md: 404 not_found)."""
    try:
        return UUID(raw)
    except ValueError:
        raise NotFound("No such resource.") from None
