"""Alembic environment: runs migrations over asyncpg with the project's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import models
from server.db import make_engine

target_metadata = models.Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        # Serialize concurrent migrators (several processes starting at once).
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7242001)")
        context.run_migrations()


async def _main() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by server.migrate"
    engine = make_engine(url, pool_size=1, max_overflow=0)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `edustream migrate`")
asyncio.run(_main())
