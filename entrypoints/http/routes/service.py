from __future__ import annotations

from typing import Any

from litestar import Request, get

from entrypoints.http.deps import resolve
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import Health, PoolFigures


@get("/healthz", tags=["service"], responses=error_specs(503))
async def healthz(request: Request[Any, Any, Any]) -> Health:
    """200 while the database answers within a second and the pool is not exhausted; else 503."""
    health = await resolve(request.app.state.container.db_health)
    await health.check()
    return Health(status="ok", pool=PoolFigures(**health.pool_figures()))
