"""The advisory locks: the student's try-lock is the very lock ``place_hold()`` takes."""

from __future__ import annotations

import uuid

import asyncpg
from starlette.applications import Starlette

from server.db import unit_of_work
from server.locks import try_lock_student


async def test_try_lock_student_is_busy_while_place_holds_key_is_held_and_free_after(
        app: Starlette, db: asyncpg.Pool) -> None:
    student = uuid.uuid4()
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        # The key expression of place_hold() (migration 0011), taken as it takes it.
        await conn.execute("SELECT pg_advisory_xact_lock(booking_lock_key($1) # (1::bigint << 62))", student)
        async with unit_of_work(app.state.sessionmaker) as session:
            assert await try_lock_student(session, student) is False
        await tx.commit()
    async with unit_of_work(app.state.sessionmaker) as session:
        assert await try_lock_student(session, student) is True
        assert await try_lock_student(session, student) is True  # re-entrant in one transaction
