"""Liveness and readiness probes (no ``/api/v1`` prefix)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import JSONResponse

from server.http import Ctx, Router

router = Router("", tags=["health"])


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz(ctx: Ctx) -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: PostgreSQL and Redis are reachable (else 503)")
async def readyz(ctx: Ctx) -> Health | JSONResponse:
    checks: dict[str, str] = {}

    async def check_db() -> None:
        async with ctx.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def check_redis() -> None:
        await ctx.redis.ping()

    for name, probe in (("postgres", check_db), ("redis", check_redis)):
        try:
            await asyncio.wait_for(probe(), timeout=2)
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            checks[name] = f"error: {type(exc).__name__}"
    if all(v == "ok" for v in checks.values()):
        return Health(status="ok", checks=checks)
    return JSONResponse({"error": {"code": "not_ready", "message": "A dependency is unreachable.",
                                   "details": checks}}, status_code=503)
