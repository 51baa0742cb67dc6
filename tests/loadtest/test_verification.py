"""The load tester catches what it is there to catch: a run that breaks an invariant fails.

Each test breaks one invariant behind the load tester's back (straight in the database,
as a bug in the server would) and expects the verification to fail with exit code 1.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from loadtest.config import LoadConfig
from loadtest.context import RunContext
from loadtest.runner import Progress, run
from loadtest.scenarios import contention, waitlist
from tests.realtime.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("loadtest")


def config(servers: list[LiveServer]) -> LoadConfig:
    return LoadConfig(urls=[s.url for s in servers], scenario="contention", students=3, tutors=2, slots=2,
                      watchers=4, setup_concurrency=5, verify_timeout=5)


def failed(report: dict[str, object]) -> set[str]:
    return {c["name"] for c in report["checks"] if not c["passed"]}  # type: ignore[attr-defined]


async def test_a_clean_run_passes_in_process(servers: list[LiveServer]) -> None:
    report = await run(config(servers), progress=Progress(enabled=False))

    assert report["exit_code"] == 0, report["checks"]


async def test_a_booking_nobody_was_told_about_fails_the_run(servers: list[LiveServer], db: asyncpg.Pool) -> None:
    async def contention_then_sneak_in_a_hold(ctx: RunContext) -> None:
        await contention(ctx)
        tutor = ctx.fleet.tutors[0]
        start = datetime.fromtimestamp(tutor.open_slots[0], UTC)
        end = start + timedelta(minutes=ctx.fleet.window.minutes)
        async with db.acquire() as conn:
            await conn.execute(
                "INSERT INTO bookings (id, tutor_id, student_id, status, start_at, end_at, guarded, expires_at, "
                "price_cents, currency) VALUES ($1, $2, $3, 'held', $4, $5, tstzrange($4, $5), "
                "now() + interval '10 min', 3000, 'USD')",
                uuid.uuid4(), uuid.UUID(tutor.id), uuid.UUID(ctx.fleet.students[0].id), start, end)

    report = await run(config(servers), progress=Progress(enabled=False), scenario=contention_then_sneak_in_a_hold)

    assert report["exit_code"] == 1
    # Unknown to every client, and no watcher heard of it (no outbox row, no event).
    assert failed(report) == {"bookings_match_clients", "watchers_match_api"}


async def test_a_hold_released_without_an_event_fails_the_run(servers: list[LiveServer], db: asyncpg.Pool) -> None:
    async def contention_then_release_silently(ctx: RunContext) -> None:
        await contention(ctx)
        won = next(iter(ctx.ledger.holds))
        async with db.acquire() as conn:
            await conn.execute("UPDATE bookings SET status = 'released' WHERE id = $1", uuid.UUID(won))

    report = await run(config(servers), progress=Progress(enabled=False), scenario=contention_then_release_silently)

    assert report["exit_code"] == 1
    assert failed(report) == {"bookings_match_clients", "watchers_match_api"}
    watchers = next(c for c in report["checks"] if c["name"] == "watchers_match_api")
    assert watchers["data"]["mismatches"][0]["slots"][0]["api"] == ("open", None)


async def test_a_waiter_skipped_although_eligible_fails_the_run(servers: list[LiveServer], db: asyncpg.Pool) -> None:
    async def waitlist_then_skip_someone(ctx: RunContext) -> None:
        await waitlist(ctx)
        async with db.acquire() as conn:
            changed = await conn.execute(
                "UPDATE waitlist_entries SET status = 'lapsed', reason = 'hold_limit' WHERE id = "
                "(SELECT id FROM waitlist_entries WHERE booking_id IS NULL ORDER BY seq LIMIT 1)")
        assert changed == "UPDATE 1"

    cfg = LoadConfig(urls=[s.url for s in servers], scenario="waitlist", students=8, tutors=2, watchers=2,
                     concurrency=2, waiters=3, duration=3, setup_concurrency=5, verify_timeout=5)
    report = await run(cfg, progress=Progress(enabled=False), scenario=waitlist_then_skip_someone)

    assert report["exit_code"] == 1
    assert failed(report) == {"waitlist_invariants"}
