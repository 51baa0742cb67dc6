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
from loadtest.context import HoldRecord, Race, RunContext
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


async def idle(ctx: RunContext) -> None:
    await asyncio.sleep(max(0.0, ctx.deadline - time.monotonic()))


SCENARIO_FUNCS: dict[str, Callable[[RunContext], Awaitable[None]]] = {
    "contention": contention, "throughput": throughput, "churn": churn, "mixed": mixed, "idle": idle}
