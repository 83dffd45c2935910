"""The Litestar application: routes, error table, OpenAPI and the lifespan owning every resource."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import Receive, Scope, Send

from entrypoints.container import init_resources, shutdown_resources
from entrypoints.http.bodies import check_input
from entrypoints.http.deps import authenticated, dependencies_from, resolve
from entrypoints.http.errors import EXCEPTION_HANDLERS
from entrypoints.http.middleware import HttpEnvelope
from entrypoints.http.openai_compat.routes import openai_router
from entrypoints.http.page import asset, index
from entrypoints.http.responses import JsonResponse
from entrypoints.http.routes import (
    admin,
    agents,
    catalog,
    memory,
    rooms,
    service,
    sessions,
    turns,
    usage,
    users,
    wallet,
)
from entrypoints.supervisor import TurnSupervisor

MAX_BODY_BYTES = 1024 * 1024

API_HANDLERS = [
    users.create_user,
    users.me,
    catalog.models,
    catalog.pricing,
    catalog.pricing_version,
    rooms.create_room,
    rooms.list_rooms,
    rooms.get_room,
    rooms.update_room,
    rooms.change_mode,
    rooms.delete_room,
    agents.add_agent,
    agents.list_agents,
    agents.update_agent,
    agents.remove_agent,
    sessions.open_session,
    sessions.list_sessions,
    sessions.get_session,
    sessions.list_messages,
    turns.send_message,
    turns.list_turns,
    turns.get_turn,
    turns.turn_events,
    memory.get_summary,
    memory.get_turn_context,
    turns.stop_turn,
    usage.usage_events,
    usage.usage_summary,
    wallet.credit_transactions,
    *admin.ROUTES,
]


class PantheonApp(Litestar):
    """Litestar with the HttpEnvelope around all of it: unmatched routes' 404 and 405 answers included."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._envelope = HttpEnvelope(super().__call__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._envelope(scope, receive, send)


def create_app(container: Any, *, manage_resources: bool = True) -> Litestar:
    """`manage_resources=False` lets a test own the container's resources across several apps."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.container = container
        if manage_resources:
            await init_resources(container)
        container.manager_model()  # an unknown PANTHEON_MANAGER_MODEL stops the start, naming the setting
        container.summary_model()  # likewise PANTHEON_SUMMARY_MODEL
        # The config's per-model prices become a pricing version before any turn is priced (no-op if unchanged).
        await container.publish_prices().execute()
        supervisor = TurnSupervisor(
            await resolve(container.supervise_turns), stale_after_s=container.settings().turn_stale_after_s
        )
        await supervisor.start()
        watchdog = asyncio.create_task((await resolve(container.db_health)).watch(), name="pool-watchdog")
        try:
            yield
        finally:
            watchdog.cancel()
            await supervisor.stop()
            if manage_resources:
                await shutdown_resources(container)

    api = Router(path="/api/v1", route_handlers=API_HANDLERS, security=[{"bearer": []}], guards=[authenticated])
    return PantheonApp(
        route_handlers=[service.healthz, api, openai_router(), index, asset],  # /v1: a room as an OpenAI model
        dependencies=dependencies_from(container),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=[lifespan],
        before_request=check_input,
        request_max_body_size=MAX_BODY_BYTES,
        response_class=JsonResponse,
        openapi_config=OpenAPIConfig(
            title="Pantheon",
            version="1.0.0",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="API key from POST /users")
                }
            ),
        ),
        logging_config=None,
        debug=False,
    )
