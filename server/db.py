"""Database engine, sessions and the unit of work.

Only :func:`unit_of_work` commits, and only the edges open one: the HTTP router around a
route that takes a ``session``, the live namespace around an event, a task around its run.
Services receive the :class:`Session`, change rows and register follow-up work with
:meth:`Session.after_commit` (waking the outbox relay, kicking tasks, counting metrics);
that work runs only once the transaction has committed, so a rollback does nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
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


class Session(AsyncSession):
    """The session a unit of work hands out: an ``AsyncSession`` that also collects the
    follow-up work to run once its transaction has committed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._after_commit: dict[Hashable, AfterCommit] = {}

    def after_commit(self, callback: AfterCommit, *, key: Hashable | None = None) -> None:
        """Run ``callback`` once the unit of work has committed (never after a rollback).
        Callbacks run in the order they were registered; with ``key``, only the first
        callback registered under that key runs (e.g. one outbox wake-up per transaction)."""
        self._after_commit.setdefault(object() if key is None else key, callback)

    def take_after_commit(self) -> list[AfterCommit]:
        """The registered callbacks, leaving none behind (for :func:`unit_of_work`)."""
        callbacks, self._after_commit = list(self._after_commit.values()), {}
        return callbacks


Sessionmaker = async_sessionmaker[Session]


def make_sessionmaker(engine: AsyncEngine) -> Sessionmaker:
    return async_sessionmaker(engine, class_=Session, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessionmaker: Sessionmaker) -> AsyncIterator[Session]:
    """Open a session and transaction; commit on success, roll back on error, then run the
    session's after-commit work."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            session.take_after_commit()
            raise
        callbacks = session.take_after_commit()
    for callback in callbacks:
        await callback()
