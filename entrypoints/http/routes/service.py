from __future__ import annotations

from typing import Any

from litestar import Request, get

from entrypoints.http.deps import resolve
from entrypoints.http.errors import error_specs
from entrypoints.http.schemas import Health


@get("/healthz", tags=["service"], responses=error_specs(503))
async def healthz(request: Request[Any, Any, Any]) -> Health:
    pool = await resolve(request.app.state.container.pool)
    async with pool.connection() as conn:
        await conn.execute("SELECT 1 FROM pricing_versions LIMIT 1")
    return Health(status="ok")
