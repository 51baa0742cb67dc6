"""``edustream seed --demo``: realistic demo data, created once, with working logins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devtools.seed import STUDENTS, TUTORS, format_logins, seed_demo
from server.db import make_engine, make_sessionmaker
from server.identity import verify_password
from server.settings import Settings

TABLES = ("users", "tutor_profiles", "tutor_subjects", "subjects", "availability_rules",
          "availability_overrides", "tutor_versions")


@pytest.fixture
async def sessionmaker(settings: Settings, db: asyncpg.Pool,
                       redis: Redis) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    # ``redis`` too: the cleaning fixture in conftest needs it set up before it runs.
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=0)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def _counts(db: asyncpg.Pool) -> dict[str, int]:
    return {table: await db.fetchval(f'SELECT count(*) FROM "{table}"') for table in TABLES}


async def test_seeding_twice_creates_nothing_the_second_time(
        sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Pool) -> None:
    first = await seed_demo(sessionmaker)
    after_first = await _counts(db)
    second = await seed_demo(sessionmaker)

    assert (first.created, first.existing) == (14, 0)
    assert (second.created, second.existing) == (0, 14)
    assert await _counts(db) == after_first
    assert after_first["users"] == 14
    assert after_first["tutor_profiles"] == after_first["tutor_versions"] == 12
    assert after_first["availability_overrides"] >= 2


async def test_demo_tutors_span_subjects_currencies_and_time_zones(
        sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Pool) -> None:
    await seed_demo(sessionmaker)
    rows = await db.fetch("SELECT currency, timezone FROM tutor_profiles")
    subjects = await db.fetch("SELECT DISTINCT s.slug FROM tutor_subjects ts JOIN subjects s ON s.id = ts.subject_id")

    assert {r["currency"] for r in rows} == {"USD", "EUR", "GBP"}
    assert {"America/New_York", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney",
            "America/Los_Angeles"} <= {r["timezone"] for r in rows}
    assert len({r["slug"] for r in subjects}) == 12
    assert await db.fetchval("SELECT count(DISTINCT tutor_id) FROM availability_rules") == 12


async def test_printed_passwords_match_the_stored_hashes(
        sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Pool) -> None:
    report = await seed_demo(sessionmaker)
    hashes = {r["email"]: r["password_hash"] for r in await db.fetch("SELECT email, password_hash FROM users")}

    assert len(report.logins) == len(TUTORS) + len(STUDENTS)
    for login in report.logins:
        assert login.email.isascii()
        assert verify_password(hashes[login.email], login.password), login.email
    table = format_logins(report.logins)
    assert "student1@demo.edustream.test" in table and "demo-password-1" in table


async def test_demo_ratings_come_from_real_reviews_of_completed_lessons(
        sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Pool) -> None:
    await seed_demo(sessionmaker)
    await seed_demo(sessionmaker)  # idempotent: no second set of reviews
    rows = await db.fetch(
        "SELECT p.rating_avg, p.rating_count, count(r.id) AS reviews, coalesce(avg(r.rating), 0) AS mean, "
        "bool_and(b.status = 'completed' AND b.end_at < now() AND b.student_id = r.student_id) AS real "
        "FROM tutor_profiles p LEFT JOIN reviews r ON r.tutor_id = p.user_id "
        "LEFT JOIN bookings b ON b.id = r.booking_id GROUP BY p.user_id")
    assert len(rows) == len(TUTORS)
    assert sum(r["reviews"] for r in rows) == sum(len(t.reviews) for t in TUTORS)
    for row in rows:
        assert row["rating_count"] == row["reviews"] > 0
        assert abs(row["rating_avg"] - float(row["mean"])) < 1e-9
        assert row["real"]


async def test_some_demo_tutors_offer_a_trial(sessionmaker: async_sessionmaker[AsyncSession],
                                              db: asyncpg.Pool) -> None:
    await seed_demo(sessionmaker)
    rows = await db.fetch("SELECT trial_minutes, trial_price_cents, lesson_minutes FROM tutor_profiles "
                          "WHERE trial_minutes IS NOT NULL")
    assert len(rows) == sum(1 for t in TUTORS if t.trial) >= 2
    assert any(r["trial_price_cents"] == 0 for r in rows)
    assert all(r["trial_minutes"] in r["lesson_minutes"] for r in rows)


async def test_some_demo_tutors_sell_packages_of_their_lesson_lengths(
        sessionmaker: async_sessionmaker[AsyncSession], db: asyncpg.Pool) -> None:
    await seed_demo(sessionmaker)
    rows = await db.fetch("SELECT p.minutes, p.currency, t.lesson_minutes, t.currency AS tutor_currency "
                          "FROM lesson_packages p JOIN tutor_profiles t ON t.user_id = p.tutor_id WHERE p.active")
    assert len(rows) == sum(len(t.packages) for t in TUTORS) >= 2
    assert all(r["minutes"] in r["lesson_minutes"] and r["currency"] == r["tutor_currency"] for r in rows)
    await seed_demo(sessionmaker)
    assert await db.fetchval("SELECT count(*) FROM lesson_packages") == len(rows)
