"""The default slot listing of a tutor, computed once per version for a storm of readers.

Every page view and every live ``watch`` asks for the same thing: the tutor's slots for the
next seven days at the current version. A storm of 5,000 watchers would compute it 5,000
times. Here the first request at a version computes it; requests arriving meanwhile await
that computation (one flight per tutor and lesson length); later ones at the same version
reuse it while it is still exact: until ``SLOTS_SNAPSHOT_TTL_SECONDS`` have passed (the
window's edges move with the clock: a slot's notice runs out, a new day comes into reach)
or the earliest ``held_until`` in it passes (that slot reopens without a version change).
Any change to the tutor's bookings or policy bumps the version, so a snapshot never hides
one: the version is read on every request (one small statement).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.availability.schemas import SlotsOut

MAX_ENTRIES = 10_000


@dataclass(slots=True)
class _Entry:
    version: int
    policy_version: int
    valid_until: datetime
    result: asyncio.Future[SlotsOut]


_cache: OrderedDict[tuple[uuid.UUID, int | None], _Entry] = OrderedDict()


def _valid_until(snapshot: SlotsOut, computed_at: datetime, ttl: timedelta) -> datetime:
    expiries = [s.held_until for s in snapshot.slots if s.held_until is not None]
    return min([computed_at + ttl, *expiries])


async def shared(tutor_id: uuid.UUID, minutes: int | None, version: int, policy_version: int, now: datetime,
                 ttl: timedelta, compute: Callable[[], Awaitable[SlotsOut]]) -> SlotsOut:
    """The snapshot at ``version``: reused, awaited from a computation in flight, or computed."""
    key = (tutor_id, minutes)
    entry = _cache.get(key)
    if (entry is not None and entry.version == version and entry.policy_version == policy_version
            and now < entry.valid_until and not (entry.result.done() and entry.result.exception())):
        _cache.move_to_end(key)
        return await asyncio.shield(entry.result)
    future: asyncio.Future[SlotsOut] = asyncio.get_running_loop().create_future()
    entry = _Entry(version, policy_version, now + ttl, future)
    _cache[key] = entry
    if len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    try:
        snapshot = await compute()
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: awaiting readers get it; nobody else must log it
        if _cache.get(key) is entry:
            del _cache[key]
        raise
    entry.valid_until = _valid_until(snapshot, now, ttl)
    entry.version = snapshot.version  # what was actually read (it may be newer than asked)
    future.set_result(snapshot)
    return snapshot
