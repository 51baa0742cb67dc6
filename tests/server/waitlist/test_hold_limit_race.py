"""The hand-off never puts a student over MAX_ACTIVE_HOLDS, even when that student places
holds with another tutor while the slot they wait for is handed to them: the hand-off runs
under the tutor's lock and may only *try* the student's (``server/bookings/handoff.py``).

The racers really run at once, on their own connections; a blocking connection (a row lock on
the tutor's version, the other tutor's advisory lock) pins them at the interleavings that
matter, each step waiting for the database to show the racer blocked."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette

from server.locks import tutor_lock_key
from tests.fixtures.bookings import StudentFactory, TutorFactory, hold, next_day_at
from tests.server.waitlist.support import join

ROUNDS = 6


async def _blocked_by(db: asyncpg.Pool, pid: int) -> set[int]:
    """The backends waiting for a lock that ``pid`` holds."""
    return {r["pid"] for r in await db.fetch("SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                                             pid)}


async def _until_blocked(db: asyncpg.Pool, pid: int, n: int, what: str,
                         unless: asyncio.Task[Any] | None = None) -> set[int]:
    """Wait until ``n`` backends wait for ``pid``'s locks (or ``unless`` finished); returns them."""
    deadline = time.monotonic() + 20
    while len(blocked := await _blocked_by(db, pid)) < n and not (unless is not None and unless.done()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)
    return blocked


async def _live_holds_of(db: asyncpg.Pool, student_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM bookings WHERE student_id = $1 AND status = 'held' "
                                 "AND expires_at > now()", student_id))


async def _in_line(client: httpx.AsyncClient, make_students: StudentFactory, tutor: dict[str, Any],
                   other: dict[str, Any], round_: int, holds: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A holder's hold on the tutor's slot, a waiter in line behind it holding ``holds`` slots
    of the other tutor. Returns (holder, waiter, the held booking)."""
    holder, waiter = await make_students(2)
    start = next_day_at(8 + round_ % 12, days=2 + round_ // 12)
    held = (await hold(client, holder, tutor["id"], start)).json()
    assert (await join(client, waiter, tutor["id"], start)).status_code == 201
    for k in range(holds):
        r = await hold(client, waiter, other["id"], _other_slot(round_, k))
        assert r.status_code == 201, r.text
    return holder, waiter, held


async def _behind(client: httpx.AsyncClient, make_students: StudentFactory, tutor: dict[str, Any],
                  held: dict[str, Any]) -> dict[str, Any]:
    """A second student in line for the held slot, behind the waiter."""
    [behind] = await make_students(1)
    assert (await join(client, behind, tutor["id"], datetime.fromisoformat(held["start"]))).status_code == 201
    return behind


def _other_slot(round_: int, k: int) -> datetime:
    return next_day_at(8 + k, days=10 + round_)


async def _entry(db: asyncpg.Pool, student_id: str) -> tuple[str, str | None]:
    row = await db.fetchrow("SELECT status, reason FROM waitlist_entries WHERE student_id = $1", student_id)
    return row["status"], row["reason"]


async def test_a_hold_placed_while_the_offer_commits_waits_for_it_and_is_refused_at_the_limit(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    """The waiter is one below the limit. The release's hand-off offers them the slot and is
    held just before its commit; meanwhile they place another hold with another tutor. That
    hold must wait for the offer and count it: refused, the limit exactly reached."""
    limit = app.state.settings.max_active_holds
    tutor, other = await make_tutor(), await make_tutor()
    for i in range(ROUNDS):
        holder, waiter, held = await _in_line(client, make_students, tutor, other, i, limit - 1)
        async with db.acquire() as blocker:
            pid = blocker.get_server_pid()
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("SELECT 1 FROM tutor_versions WHERE tutor_id = $1 FOR UPDATE", tutor["id"])
            release = asyncio.create_task(client.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"]))

            [release_pid] = await _until_blocked(db, pid, 1, "the release waits for its commit's version bump")
            another = asyncio.create_task(hold(client, waiter, other["id"], _other_slot(i, limit)))
            # Fixed, the hold waits for the hand-off's lock on the student; unfixed, it is placed.
            await _until_blocked(db, release_pid, 1, "the other hold waits for the hand-off", unless=another)
            await tx.commit()
        released, placed = await asyncio.gather(release, another)
        assert released.status_code == 204, released.text
        assert await _live_holds_of(db, waiter["id"]) <= limit, f"round {i}: over the limit"
        assert placed.status_code == 409, placed.text
        assert placed.json()["error"]["code"] == "hold_limit_reached"
        assert await _entry(db, waiter["id"]) == ("offered", None)


async def test_a_student_busy_placing_holds_when_the_slot_comes_free_keeps_their_place_and_the_next_gets_it(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    """The waiter is two below the limit and placing a hold with another tutor (holding their
    own lock, waiting for that tutor's) when the release hands the slot on. Even allowing for
    that one hold in flight would not do: once it commits, a second hold counts without the
    uncommitted offer. The busy waiter is passed over but stays first in line; the next in
    line gets the slot; both holds succeed and the limit holds."""
    limit = app.state.settings.max_active_holds
    tutor, other, third = await make_tutor(), await make_tutor(), await make_tutor()
    for i in range(ROUNDS):
        holder, waiter, held = await _in_line(client, make_students, tutor, other, i, limit - 2)
        behind = await _behind(client, make_students, tutor, held)
        async with db.acquire() as blocker:
            pid = blocker.get_server_pid()
            await blocker.execute("SELECT pg_advisory_lock($1)", tutor_lock_key(uuid.UUID(other["id"])))
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("SELECT 1 FROM tutor_versions WHERE tutor_id = $1 FOR UPDATE", tutor["id"])
            first = asyncio.create_task(hold(client, waiter, other["id"], _other_slot(i, limit)))
            await _until_blocked(db, pid, 1, "the first hold waits for the other tutor's lock")
            release = asyncio.create_task(client.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"]))
            await _until_blocked(db, pid, 2, "the release waits for its commit's version bump")
            await blocker.execute("SELECT pg_advisory_unlock($1)", tutor_lock_key(uuid.UUID(other["id"])))
            assert (await first).status_code == 201, (await first).text
            second = await hold(client, waiter, third["id"], _other_slot(i, limit + 1))
            await tx.commit()
        assert (await release).status_code == 204
        assert await _live_holds_of(db, waiter["id"]) <= limit, f"round {i}: over the limit"
        assert second.status_code == 201, second.text
        assert await _entry(db, waiter["id"]) == ("waiting", None)
        assert await _entry(db, behind["id"]) == ("offered", None)
        listed = await client.get("/api/v1/waitlist", headers=waiter["headers"])
        assert [e["position"] for e in listed.json()["items"]] == [1]


async def test_a_student_queued_for_the_same_tutor_is_still_offered_the_slot_and_their_hold_counts_it(
        client: httpx.AsyncClient, app: Starlette, db: asyncpg.Pool, make_tutor: TutorFactory,
        make_students: StudentFactory) -> None:
    """The waiter is two below the limit and, when the release hands the slot on, is placing a
    hold with the *same* tutor: holding their own lock, queued behind the release for the
    tutor's. That hold can only count after the offer commits, so first in line still gets the
    slot (FIFO kept), and the hold, counting the offer, reaches the limit exactly."""
    limit = app.state.settings.max_active_holds
    tutor, other = await make_tutor(), await make_tutor()
    for i in range(ROUNDS):
        holder, waiter, held = await _in_line(client, make_students, tutor, other, i, limit - 2)
        behind = await _behind(client, make_students, tutor, held)
        async with db.acquire() as blocker:
            pid = blocker.get_server_pid()
            tx = blocker.transaction()
            await tx.start()
            # The release takes the tutor's lock, then waits here for the booking's row lock.
            await blocker.execute("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE", uuid.UUID(held["id"]))
            release = asyncio.create_task(client.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"]))
            [release_pid] = await _until_blocked(db, pid, 1, "the release holds the tutor's lock and waits for the row")
            same_tutor = asyncio.create_task(hold(client, waiter, tutor["id"], next_day_at(20, days=30 + i)))
            await _until_blocked(db, release_pid, 1, "the waiter's hold queues for the tutor's lock")
            await tx.commit()
        released, placed = await asyncio.gather(release, same_tutor)
        assert released.status_code == 204, released.text
        assert await _entry(db, waiter["id"]) == ("offered", None), f"round {i}: first in line passed over"
        assert await _entry(db, behind["id"]) == ("waiting", None)
        assert placed.status_code == 201, placed.text
        assert await _live_holds_of(db, waiter["id"]) == limit, f"round {i}"
