"""The one query readiness needs."""

from __future__ import annotations

from sqlalchemy import text

from server.db import Session


async def ping(session: Session) -> None:
    """Raise unless PostgreSQL answers."""
    await session.execute(text("SELECT 1"))
