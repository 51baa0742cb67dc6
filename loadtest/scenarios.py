"""The scenarios: what the virtual students do while the watchers watch.

* ``contention``: N students race for M slots: every slot's contenders (``--contenders``,
  default all students) fire at once, ``--concurrency`` requests in flight. Nobody
  releases, so every slot must end with exactly one winner.
* ``throughput``: uncontended holds, each on a slot no other request wants, at ``--rate``
  holds/s (or as fast as ``--concurrency`` allows) for ``--duration`` s. A student at
  the hold limit first releases its oldest hold (so releases run at the hold rate too).
* ``churn``: ``--concurrency`` lanes, each working one slot at a time: two students race
  to hold it, then the winner releases it, lets it lapse (when the hold TTL is short
  enough to wait for, ``--max-lapse-wait``) or pays for it; after a release or a lapse
  two students race for it again. Lapsed holds must read back as ``expired``.
* ``mixed``: a blend of browsing (``GET /tutors``), profiles, slot listings, holds on
  slots picked from the last listing (so some collide), releases, checkouts and booking
  lists, weighted by ``--mix``.
* ``waitlist``: ``--concurrency`` lanes, each taking a slot (hot tutor first, by
  ``--hot-share``): one student holds it, ``--waiters`` others join its line at once, some
  leave (``--leave-share``), then the holder lets go and the slot is handed down the line,
  each offered student letting go in turn, until the line is empty (at the deadline the
  rest leave first). The clients read each offer from ``GET /waitlist``.
* ``idle``: nothing but the watchers' connections, for ``--duration`` s (memory per
  connection, reconnect behaviour).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from loadtest.api import Account
from loadtest.context import HoldRecord, Race, RunContext, WaitLine, iso_key
from loadtest.setup import Tutor, slot_key

log = logging.getLogger("edustream.loadtest")

Op = Callable[[], Awaitable[None]]


async def drive(ctx: RunContext, op: Op, *, keep_going: Callable[[], bool]) -> None:
    """Run ``op`` until ``keep_going()`` is false: open loop at ``--rate`` ops/s with at most
    ``--concurrency`` in flight, or closed loop with ``--concurrency`` workers when the rate is 0."""
    cfg = ctx.cfg

    async def guarded() -> None:
        try:
            await op()
        except Exception as exc:  # a bug in the load tester must show, not kill the run
            ctx.counters["client_exceptions"] += 1
            if ctx.counters["client_exceptions"] <= 3:
                log.exception("load-test operation failed: %s", exc)

    if cfg.rate <= 0:
        async def worker() -> None:
            while keep_going():
                await guarded()

        await asyncio.gather(*(worker() for _ in range(max(1, cfg.concurrency))))
        return

    gate = asyncio.Semaphore(max(1, cfg.concurrency))
    tasks: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    n = 0

    async def one() -> None:
        try:
            await guarded()
        finally:
            gate.release()

    while keep_going():
        delay = started + n / cfg.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:
            ctx.counters["rate_behind_1s"] += 1
        await gate.acquire()
        n += 1
        task = asyncio.get_running_loop().create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)


# -- contention ----------------------------------------------------------------------------


async def contention(ctx: RunContext) -> None:
    cfg, fleet = ctx.cfg, ctx.fleet
    races: list[Race] = []
    for j in range(cfg.slots):
        tutor = fleet.tutors[j % len(fleet.tutors)]
        got = ctx.take_slot(tutor)
        if got is None:
            ctx.counters["no_open_slot"] += 1
            continue
        races.append(Race(tutor.id, got[1]))
    ctx.ledger.races.extend(races)
    per_slot = min(cfg.contenders or len(fleet.students), len(fleet.students))
    attempts: deque[tuple[Race, Account]] = deque()
    for race in races:
        for student in ctx.rng.sample(fleet.students, per_slot):
            attempts.append((race, student))

    async def op() -> None:
        if attempts:
            race, student = attempts.popleft()
            await ctx.hold(student, race.tutor_id, race.key, race)

    await drive(ctx, op, keep_going=lambda: bool(attempts))


# -- throughput ----------------------------------------------------------------------------


async def throughput(ctx: RunContext) -> None:
    async def op() -> None:
        got = ctx.take_slot()
        if got is None:
            await asyncio.sleep(0.01)
            return
        tutor, key = got
        student = await ctx.student()
        try:
            await ctx.make_room(student)
            if await ctx.hold(student, tutor.id, key) is None:
                ctx.counters["hold_refused"] += 1
                tutor.open_slots.append(key)
        finally:
            ctx.give_back(student)

    await drive(ctx, op, keep_going=ctx.time_left)


# -- churn ---------------------------------------------------------------------------------


async def _race_for(ctx: RunContext, tutor: Tutor, key: int, racers: int) -> HoldRecord | None:
    """``racers`` students try to hold the slot at once; the winner's student stays taken."""
    students = [await ctx.student() for _ in range(racers)]
    for student in students:
        await ctx.make_room(student)
    race = Race(tutor.id, key)
    ctx.ledger.races.append(race)
    results = await asyncio.gather(*(ctx.hold(s, tutor.id, key, race) for s in students))
    # Two can win one race in turn: a reply held up (a frozen server) past the first winner's
    # lapse is a second, later hold. The latest one holds the slot now; the earlier ones lapsed
    # (``one_winner_per_race`` checks that by their commit times).
    winners = sorted((r for r in results if r is not None), key=lambda r: r.created_at or r.received_at)
    winner = winners[-1] if winners else None
    for earlier in winners[:-1]:
        ctx.lapsed(earlier)
    for student in students:
        if winner is None or student is not winner.student:
            ctx.give_back(student)
    return winner


def _choose(ctx: RunContext, record: HoldRecord) -> str:
    """The holder's next move, by ``--churn-mix`` (lapse only when the wait fits the TTL and the run)."""
    ttl = ctx.ledger.hold_ttl
    can_lapse = (ttl is not None and ttl <= ctx.cfg.max_lapse_wait
                 and record.expires_at - time.time() < ctx.deadline - time.monotonic())
    weights = {k: v for k, v in ctx.cfg.churn_mix.items() if v > 0 and (k != "lapse" or can_lapse)}
    if not weights:
        return "release"
    roll = ctx.rng.random() * sum(weights.values())
    for name, weight in weights.items():
        roll -= weight
        if roll < 0:
            return name
    return "release"


async def churn(ctx: RunContext) -> None:
    racers = 2

    async def lane() -> None:
        while ctx.time_left():
            got = ctx.take_slot()
            if got is None:
                await asyncio.sleep(0.05)
                continue
            tutor, key = got
            holder = await _race_for(ctx, tutor, key, racers)
            steps = 0
            while holder is not None:
                action = _choose(ctx, holder) if ctx.time_left() and steps < 4 else "release"
                ctx.counters[f"churn_{action}"] += 1
                previous = holder
                if action == "confirm":
                    if await ctx.confirm(holder):
                        ctx.give_back(holder.student)
                        holder = None
                        break
                    action = "release"
                if action == "release":
                    await asyncio.sleep(ctx.rng.uniform(0, 0.05))
                    released = await ctx.release(holder)
                    ctx.give_back(holder.student)
                    if not released:
                        if holder.state == "lapsed":
                            tutor.open_slots.append(key)
                        holder = None
                        break
                else:  # lapse: wait past expires_at, then others take the slot over
                    await asyncio.sleep(max(0.0, holder.expires_at - time.time()) + 0.3)
                    ctx.lapsed(holder)
                    ctx.give_back(holder.student)
                if not ctx.time_left() or steps >= 4:
                    tutor.open_slots.append(key)
                    holder = None
                    break
                holder = await _race_for(ctx, tutor, key, racers)
                ctx.counters["churn_reheld"] += holder is not None
                if action == "lapse":
                    ctx.ledger.lapse_checks[str(await ctx.booking_status(previous))] += 1
                steps += 1
            # a holder left at the deadline keeps its hold: the cleanup releases it

    # Each lane needs ``racers`` students at once: more lanes than that allows would deadlock.
    lanes = max(1, min(ctx.cfg.concurrency, len(ctx.fleet.students) // racers))
    await asyncio.gather(*(lane() for _ in range(lanes)))


# -- mixed ---------------------------------------------------------------------------------


async def mixed(ctx: RunContext) -> None:
    fleet = ctx.fleet
    weights = {k: v for k, v in ctx.cfg.mix.items() if v > 0}
    names, cum = list(weights), []
    total = 0
    for name in names:
        total += weights[name]
        cum.append(total)
    listings: dict[str, list[int]] = {}

    def pick() -> str:
        roll = ctx.rng.random() * total
        for name, edge in zip(names, cum, strict=True):
            if roll < edge:
                return name
        return names[-1]

    async def with_student(action: Callable[[Account], Awaitable[Any]]) -> None:
        student = await ctx.student()
        try:
            await action(student)
        finally:
            ctx.give_back(student)

    async def op() -> None:
        kind = pick()
        tutor = ctx.pick_tutor()
        if kind == "browse":
            await ctx.api.request("browse", "GET", "/tutors", params={"subject": "load-testing", "limit": "20"})
        elif kind == "profile":
            await ctx.api.request("profile", "GET", f"/tutors/{tutor.id}")
        elif kind == "slots":
            reply = await ctx.api.request("slots", "GET", f"/tutors/{tutor.id}/slots", params=fleet.window.query())
            if reply.ok:
                listings[tutor.id] = [slot_key(s["start"]) for s in reply.body["slots"] if s["status"] == "open"]
        elif kind == "hold":
            keys = listings.get(tutor.id) or list(tutor.open_slots)[:48]
            if not keys:
                ctx.counters["no_open_slot"] += 1
                return
            key = ctx.rng.choice(keys)

            async def hold(student: Account) -> None:
                await ctx.make_room(student)
                await ctx.hold(student, tutor.id, key)

            await with_student(hold)
        elif kind in ("release", "checkout"):
            async def act(student: Account) -> None:
                if not student.holds:
                    ctx.counters[f"{kind}_nothing_held"] += 1
                    return
                record = ctx.ledger.holds[student.holds[0]]
                if kind == "release":
                    await ctx.release(record)
                else:
                    await ctx.confirm(record)

            await with_student(act)
        elif kind == "bookings":
            await with_student(lambda s: ctx.api.request("bookings", "GET", "/bookings", account=s,
                                                         params={"limit": "20"}))

    await drive(ctx, op, keep_going=ctx.time_left)


# -- waitlist ------------------------------------------------------------------------------


async def _leave(ctx: RunContext, line: WaitLine, entry_id: str) -> None:
    reply = await ctx.api.request("waitlist_leave", "DELETE", f"/waitlist/{entry_id}", account=line.entries[entry_id])
    if reply.ok:
        line.left.add(entry_id)


async def _offer_of(ctx: RunContext, line: WaitLine) -> HoldRecord | None:
    """The hold the server handed to someone in ``line`` (read from each one's ``GET /waitlist``)."""
    seen = {entry for entry, _ in line.offers}
    found: list[tuple[str, Account, str, float, float]] = []
    for entry_id, student in line.entries.items():
        if entry_id in line.left or entry_id in seen:
            continue
        reply = await ctx.api.request("waitlist_list", "GET", "/waitlist", account=student)
        if not reply.ok:
            continue
        for item in reply.body.get("items", []):
            if item["id"] == entry_id and item["status"] == "offered" and item.get("booking_id"):
                found.append((entry_id, student, str(item["booking_id"]), reply.sent_at, reply.received_at))
    if len(found) > 1:
        ctx.counters["waitlist_offers_at_once"] += 1  # the verification names them
    if not found:
        return None
    entry_id, student, hold_id, sent_at, received_at = found[0]
    for other_entry, _, other_hold, _, _ in found:
        line.offers.append((other_entry, other_hold))
    reply = await ctx.api.request("booking", "GET", f"/bookings/{hold_id}", account=student)
    if not reply.ok:
        return None
    ctx.counters["waitlist_offers"] += 1
    return ctx.adopt(reply.body, student, line.key, sent_at, received_at)


async def _work_line(ctx: RunContext, tutor: Tutor, key: int, holder: Account, queue: list[Account]) -> None:
    record = await ctx.hold(holder, tutor.id, key)
    if record is None:
        ctx.counters["waitlist_hold_refused"] += 1
        return
    line = WaitLine(tutor.id, key)
    ctx.ledger.lines.append(line)
    replies = await asyncio.gather(*(ctx.api.request("waitlist_join", "POST", "/waitlist", account=s, json_body={
        "tutor_id": tutor.id, "start": iso_key(key), "minutes": ctx.fleet.window.minutes}) for s in queue))
    for student, reply in zip(queue, replies, strict=True):
        if reply.status == 201:
            line.entries[str(reply.body["id"])] = student
            line.positions[str(reply.body["id"])] = int(reply.body["position"])
    for entry_id in list(line.entries):
        if ctx.rng.random() < ctx.cfg.leave_share:
            await _leave(ctx, line, entry_id)
    current: HoldRecord | None = record
    while current is not None:
        last = not ctx.time_left()
        if last:  # nobody left waiting, so the last release opens the slot
            for entry_id in line.entries:
                if entry_id not in line.left and entry_id not in {e for e, _ in line.offers}:
                    await _leave(ctx, line, entry_id)
        await asyncio.sleep(ctx.rng.uniform(0, 0.05))
        await ctx.release(current)
        if last:
            break
        current = await _offer_of(ctx, line)


async def waitlist(ctx: RunContext) -> None:
    per_line = ctx.cfg.waiters + 1

    async def lane() -> None:
        while ctx.time_left():
            got = ctx.take_slot()
            if got is None:
                await asyncio.sleep(0.05)
                continue
            tutor, key = got
            students = [await ctx.student() for _ in range(per_line)]
            try:
                for student in students:
                    await ctx.make_room(student)
                await _work_line(ctx, tutor, key, students[0], students[1:])
            finally:
                for student in students:
                    ctx.give_back(student)
            tutor.open_slots.append(key)

    # Each lane needs a holder and its waiters at once: more lanes than that allows would deadlock.
    lanes = max(1, min(ctx.cfg.concurrency, len(ctx.fleet.students) // per_line))
    await asyncio.gather(*(lane() for _ in range(lanes)))


async def idle(ctx: RunContext) -> None:
    await asyncio.sleep(max(0.0, ctx.deadline - time.monotonic()))


SCENARIO_FUNCS: dict[str, Callable[[RunContext], Awaitable[None]]] = {
    "contention": contention, "throughput": throughput, "churn": churn, "mixed": mixed, "waitlist": waitlist,
    "idle": idle}
