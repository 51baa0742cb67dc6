"""The ASGI application: Starlette REST API with the Socket.IO live layer beside it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from server.auth import service as auth_service
from server.db import StatementPool, make_engine, make_sessionmaker, unit_of_work
from server.errors import EXCEPTION_HANDLERS
from server.http import Endpoint
from server.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from server.observability import observe_app
from server.observability.middleware import ObservabilityMiddleware
from server.openapi import build_openapi, render_docs_page
from server.ratelimit import RateLimitMiddleware
from server.redis_client import open_redis
from server.routers import API_PREFIX, ROUTERS, api_endpoints
from server.settings import Settings, get_settings

log = logging.getLogger("edustream.app")


def _docs_routes() -> list[Route]:
    spec: dict[str, Any] = {}

    def get_spec() -> dict[str, Any]:
        if not spec:
            spec.update(build_openapi(api_endpoints(), title="EduStream API", version="1.0.0", server_url="/"))
        return spec

    async def openapi(request: Request) -> Response:
        return JSONResponse(get_spec())

    async def docs(request: Request) -> Response:
        return HTMLResponse(render_docs_page(get_spec()))

    return [Route(f"{API_PREFIX}/openapi.json", openapi), Route(f"{API_PREFIX}/docs", docs)]


async def _follow_suspensions(app: Starlette, settings: Settings) -> None:
    """Keep ``app.state.suspended_ids`` (which the router and the live layer refuse) current:
    a suspended account's unexpired access tokens stop working within
    ``SUSPENSION_REFRESH_SECONDS`` in every process."""
    while True:
        try:
            async with unit_of_work(app.state.sessionmaker) as session:
                app.state.suspended_ids = await auth_service.suspended_ids(session)
        except (SQLAlchemyError, OSError) as exc:  # the database is away: keep the last known set
            log.warning("could not refresh the suspended accounts: %r", exc)
        await asyncio.sleep(settings.suspension_refresh_seconds)


def _freeze_startup_heap() -> None:
    """Move everything startup built (modules, routes, models, pools) out of the cycle
    collector's sight: they live as long as the process, and a full collection that walked
    them every few thousand requests was the API's periodic stall (p99 of the slot listing
    42 ms, 2.7 ms without it; docs/benchmarks.md, "Round four"). Objects made later are
    collected as before; reference counting frees the frozen ones that die."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the Starlette REST application (``realtime.server.create_asgi`` wraps it with Socket.IO)."""
    settings = settings or get_settings()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (edustream starts embedded ones when unset)")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                             max_overflow=settings.db_max_overflow, pgbouncer=settings.database_pgbouncer)
        redis = await open_redis(settings, decode_responses=False, socket_timeout=settings.redis_socket_timeout_seconds,
                           socket_connect_timeout=settings.redis_socket_timeout_seconds)
        statements = StatementPool(settings.database_url, max_size=settings.db_statement_pool_size,
                                   pgbouncer=settings.database_pgbouncer)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine, statements)
        app.state.redis = redis
        app.state.suspended_ids = frozenset()
        suspensions = asyncio.create_task(_follow_suspensions(app, settings), name="suspensions")
        hooks = list(getattr(app.state, "startup_hooks", []))
        try:
            for hook in hooks:
                await hook(app)
            _freeze_startup_heap()
            yield
        finally:
            for hook in reversed(list(getattr(app.state, "shutdown_hooks", []))):
                try:
                    await hook(app)
                except Exception:
                    log.exception("shutdown hook failed")
            suspensions.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await suspensions
            await redis.aclose()
            await statements.close()
            await engine.dispose()

    endpoints: list[Endpoint] = [ep for r in ROUTERS for ep in r.endpoints]
    routes = [route for r in ROUTERS for route in r.routes()] + _docs_routes()
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(ObservabilityMiddleware, access_log_enabled=settings.log_access),
        Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=True,
                   allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Request-ID", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
                                   "RateLimit-Reset", "Idempotent-Replayed"]),
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(RateLimitMiddleware),
    ]
    if settings.google_configured:
        # Google sign-in keeps its OAuth state, nonce and PKCE verifier in a signed cookie.
        middleware.append(Middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="es_oauth",
                                     max_age=900, path="/api/v1", same_site="lax", https_only=settings.cookie_secure))
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
                    lifespan=lifespan)
    app.state.settings = settings
    app.state.endpoints = endpoints
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    observe_app(app, settings)  # logging, Sentry, tracing middleware, /metrics
    return app
