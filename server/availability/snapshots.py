"""The default slot listing of a tutor, computed once per version for a storm of readers.

Every page view and every live ``watch`` asks for the same thing: the tutor's slots for the
next seven days at the current version. A storm of 5,000 watchers would compute it 5,000
times. Here the first request at a version computes it; requests arriving meanwhile await
that computation (one flight per tutor and lesson length); later ones at the same version
reuse it for as long as it is exact (``Computed.exact_until``: until the first listed slot
falls inside the tutor's notice, the next slot beyond the window enters it, or the first
``held_until`` passes and that slot reopens), at most ``SLOTS_SNAPSHOT_TTL_SECONDS``. Any
change to the tutor's bookings or policy bumps the version, so a snapshot never hides one:
the version is read on every request (one small statement). A listing whose exactness is
not known (a tutor taking bookings less than eight days ahead) is reused for one second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.availability.schemas import SlotsOut
from server.rendered import Rendered

# A week of slots renders to ~37 KB, kept as that JSON: 2,000 tutors' listings stay under ~80 MB.
MAX_ENTRIES = 2_000


# A listing whose exact validity is unknown is shared this long (the window's edges move
# with the clock: a slot's notice runs out, a new slot comes into reach).
FALLBACK_TTL = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Computed:
    """A computed listing and until when it stays exact as the clock moves (None: unknown)."""

    listing: SlotsOut
    exact_until: datetime | None


@dataclass(slots=True)
class _Entry:
    version: int
    policy_version: int
    valid_until: datetime
    result: asyncio.Future[Rendered[SlotsOut]]


# How many listings this process has computed (tests count storms with it).
computations = 0

_cache: OrderedDict[tuple[uuid.UUID, int | None], _Entry] = OrderedDict()


def _valid_until(computed: Computed, computed_at: datetime, max_age: timedelta) -> datetime:
    if computed.exact_until is not None:
        return min(computed.exact_until, computed_at + max_age)
    expiries = [s.held_until for s in computed.listing.slots if s.held_until is not None]
    return min([computed_at + min(FALLBACK_TTL, max_age), *expiries])


async def shared(tutor_id: uuid.UUID, minutes: int | None, version: int, policy_version: int, now: datetime,
                 max_age: timedelta, compute: Callable[[], Awaitable[Computed]]) -> Rendered[SlotsOut]:
    """The snapshot at ``version``, as its JSON: reused, awaited from a computation in flight, or computed."""
    key = (tutor_id, minutes)
    entry = _cache.get(key)
    if (entry is not None and entry.version == version and entry.policy_version == policy_version
            and now < entry.valid_until and not (entry.result.done() and entry.result.exception())):
        _cache.move_to_end(key)
        return await asyncio.shield(entry.result)
    future: asyncio.Future[Rendered[SlotsOut]] = asyncio.get_running_loop().create_future()
    entry = _Entry(version, policy_version, now + max_age, future)
    _cache[key] = entry
    if len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    global computations
    computations += 1
    try:
        computed = await compute()
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: awaiting readers get it; nobody else must log it
        if _cache.get(key) is entry:
            del _cache[key]
        raise
    entry.valid_until = _valid_until(computed, now, max_age)
    entry.version = computed.listing.version  # what was actually read (it may be newer than asked)
    snapshot = Rendered.of(computed.listing)  # kept only as JSON (server/rendered.py)
    future.set_result(snapshot)
    return snapshot
