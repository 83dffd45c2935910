"""The ASGI application built from the environment, for servers that import it by name
(`pantheon serve` with PANTHEON_WORKERS > 1, or any ASGI server: `uvicorn --factory entrypoints.asgi:app_from_env`)."""

from __future__ import annotations

from litestar import Litestar

from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.logs import configure_logging
from entrypoints.settings import load_settings


def app_from_env() -> Litestar:
    settings = load_settings()
    if not settings.database_url:
        raise RuntimeError("PANTHEON_DATABASE_URL must name the (already migrated) database")
    configure_logging(settings.log_level)
    return create_app(Container(settings=settings, database_url=settings.database_url))
