"""What the API does once its startup hooks have run."""

from __future__ import annotations

import gc

import asyncpg
from redis.asyncio import Redis

from server.settings import Settings
from tests.conftest import start_app


async def test_startup_moves_what_it_built_out_of_the_collectors_sight(settings: Settings, db: asyncpg.Pool,
                                                                        redis: Redis) -> None:
    """Startup ends with gc.freeze(): the modules, routes, models and pools it built are never
    walked again by a full collection (those walks were the API's periodic latency stalls)."""
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    _application, ctx = await start_app(settings)
    try:
        assert gc.get_freeze_count() > 10_000
    finally:
        await ctx.__aexit__(None, None, None)
