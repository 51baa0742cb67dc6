"""Database engine, sessions and the unit of work.

Only :func:`unit_of_work` commits, and only the edges open one: the HTTP router around a
route that takes a ``session``, the live namespace around an event, a task around its run.
Services receive the :class:`Session`, change rows and register follow-up work with
:meth:`Session.after_commit` (waking the outbox relay, kicking tasks, counting metrics);
that work runs only once the transaction has committed, so a rollback does nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from server.observability.tracing import get_tracer, instrument_engine

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


SERVER_SETTINGS = {"timezone": "UTC", "application_name": "edustream"}


def pgbouncer_connect_args() -> dict[str, Any]:
    """asyncpg behind PgBouncer in transaction pooling mode (PgBouncer < 1.21 keeps no prepared
    statements for a client): no statement cache, so asyncpg re-parses instead of relying on a
    statement that may live on another server connection, and the statements SQLAlchemy's
    dialect must prepare get names no other client uses (SQLAlchemy's PgBouncer recipe)."""
    return {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4()}__"}


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 5, pgbouncer: bool = False) -> AsyncEngine:
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"server_settings": SERVER_SETTINGS, **(pgbouncer_connect_args() if pgbouncer else {})},
    )
    instrument_engine(engine)  # SQL spans when tracing is on
    return engine


async def _json_codecs(conn: asyncpg.Connection) -> None:
    """JSON in as text, out as Python values: as on SQLAlchemy's asyncpg connections, so a
    statement answers alike on either path of :meth:`Session.fetch_one_statement`."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=str, decoder=json.loads, schema="pg_catalog")


async def _keep_as_is(conn: asyncpg.Connection) -> None:
    """No reset round trip when a connection goes back to the pool: its statements run in
    their own implicit transactions and leave no session state behind (advisory locks are
    transaction-scoped, nothing LISTENs or changes settings). asyncpg's default reset is one
    more round trip per hold (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``)."""


class StatementPool:
    """Plain asyncpg connections for statements that are a whole unit of work by themselves.

    The hot paths (placing a hold) are one statement: through SQLAlchemy they would cost a
    pre-ping, ``BEGIN`` and ``COMMIT`` round trips and its per-statement overhead; here they
    are one round trip in PostgreSQL's implicit transaction. Opened on first use, so a
    process that never takes a hot path holds no extra connections.
    """

    def __init__(self, url: str, *, max_size: int, pgbouncer: bool = False) -> None:
        self._url = libpq_url(url)
        self._max_size = max_size
        self._pgbouncer = pgbouncer
        self._pool: asyncpg.Pool | None = None

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=0, max_size=self._max_size, max_inactive_connection_lifetime=300,
                server_settings=SERVER_SETTINGS, init=_json_codecs, reset=_keep_as_is,
                # Behind PgBouncer: unnamed statements only (one more parse per hold).
                **({"statement_cache_size": 0} if self._pgbouncer else {}))
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


class Session(AsyncSession):
    """The session a unit of work hands out: an ``AsyncSession`` that also collects the
    follow-up work to run once its transaction has committed."""

    def __init__(self, *args: Any, statements: StatementPool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._after_commit: dict[Hashable, AfterCommit] = {}
        self._statements = statements

    async def fetch_one_statement(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """Run one statement (asyncpg ``$n`` parameters) and return its first row.

        Outside a transaction it runs on the :class:`StatementPool`, in PostgreSQL's implicit
        transaction: one round trip, committed when it returns, so it must be the whole
        unit of work (its caller writes nothing else in this session; follow-up work still
        goes through :meth:`after_commit`). Once this unit of work has begun a transaction
        it runs inside it instead, so it commits or rolls back with the rest."""
        # A client span like the SQLAlchemy instrumentation's, which does not see these statements.
        with get_tracer().start_as_current_span(
                sql.split(None, 1)[0].upper(), kind=SpanKind.CLIENT,
                attributes={"db.system": "postgresql", "db.statement": sql}):
            if self._statements is None or self.in_transaction():
                connection = await self.connection()
                raw = await connection.get_raw_connection()
                driver: asyncpg.Connection = raw.driver_connection
                return await driver.fetchrow(sql, *args)
            pool = await self._statements.pool()
            async with pool.acquire() as conn:
                return await conn.fetchrow(sql, *args)

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


def make_sessionmaker(engine: AsyncEngine, statements: StatementPool | None = None) -> Sessionmaker:
    return async_sessionmaker(engine, class_=Session, expire_on_commit=False, statements=statements)


def _has_work(session: Session) -> bool:
    """Whether committing would do anything: a transaction begun or objects waiting to be
    flushed. A unit of work that ran only a one-statement hot path (:meth:`Session.fetch_one_statement`,
    committed by PostgreSQL) skips SQLAlchemy's commit machinery altogether."""
    return session.in_transaction() or bool(session.new or session.dirty or session.deleted)


@asynccontextmanager
async def unit_of_work(sessionmaker: Sessionmaker) -> AsyncIterator[Session]:
    """Open a session and transaction; commit on success, roll back on error (unless the
    error keeps its changes), then run the session's after-commit work."""
    session = sessionmaker()
    try:
        try:
            yield session
            if _has_work(session):
                await session.commit()
        except BaseException as exc:
            if not getattr(exc, "keeps_changes", False):
                await session.rollback()
                session.take_after_commit()
                raise
            await session.commit()  # an error that keeps its changes (server.errors.AppError)
            callbacks = session.take_after_commit()
            for callback in callbacks:
                await callback()
            raise
        callbacks = session.take_after_commit()
    finally:
        # Closing releases connections and detaches objects; a session that never held
        # either (the hot paths run on the statement pool) has nothing to close.
        if session.in_transaction() or session.identity_map or session.new or session.deleted:
            await session.close()
    for callback in callbacks:
        await callback()
