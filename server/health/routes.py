"""Liveness and readiness probes (no ``/api/v1`` prefix)."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import JSONResponse

from server.db import Session
from server.health import service
from server.http import Ctx, Router

router = Router("", tags=["health"])


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz(ctx: Ctx) -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="Readiness: PostgreSQL and Redis are reachable (else 503)")
async def readyz(ctx: Ctx, session: Session) -> Health | JSONResponse:
    checks = await service.readiness(session, ctx.redis)
    if all(v == "ok" for v in checks.values()):
        return Health(status="ok", checks=checks)
    return JSONResponse({"error": {"code": "not_ready", "message": "A dependency is unreachable.",
                                   "details": checks}}, status_code=503)
