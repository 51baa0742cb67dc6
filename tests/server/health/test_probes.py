"""Liveness and readiness probes."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from tests.conftest import make_settings, start_app


async def test_readyz_is_ok_when_postgres_and_redis_answer(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"postgres": "ok", "redis": "ok"}}


async def test_readyz_is_503_not_500_when_postgres_is_unreachable(redis: Redis) -> None:
    # Nothing listens on port 1: the probe fails, and the unit of work around it must still end cleanly.
    app, lifespan = await start_app(make_settings(database_url="postgresql://postgres@127.0.0.1:1/none"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            r = await c.get("/readyz")
    finally:
        await lifespan.__aexit__(None, None, None)
    assert r.status_code == 503
    body = r.json()["error"]
    assert body["code"] == "not_ready"
    assert body["details"]["postgres"].startswith("error:") and body["details"]["redis"] == "ok"
