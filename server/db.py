"""Database engine, sessions and the unit of work.

Only :func:`unit_of_work` commits. Services receive the session, change rows and
register after-commit callbacks (publishing, kicking tasks); those run only when the
transaction committed, so a rollback publishes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from server.observability.tracing import instrument_engine

AfterCommit = Callable[[], Awaitable[Any]]


def asyncpg_url(url: str) -> str:
    """Accept the usual ``postgresql://`` form and use the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got {url.split(':', 1)[0]}://…")


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` form, for asyncpg.connect and psql."""
    return "postgresql://" + asyncpg_url(url)[len("postgresql+asyncpg://"):]


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 5) -> AsyncEngine:
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "edustream"}},
    )
    instrument_engine(engine)  # SQL spans when tracing is on
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the surrounding unit of work has committed."""
    session.info.setdefault("after_commit", []).append(callback)


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Open a session and transaction; commit on success, roll back on error."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        await callback()
