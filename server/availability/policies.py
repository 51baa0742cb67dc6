"""A process-level cache of tutors' slot policies, checked against ``policy_version``.

The hold path needs a tutor's policy (lesson lengths, notice, buffer, weekly rules,
overrides) to check the requested slot and to list the slots a hold changes. Re-reading it
on every hold was a round trip and ~7 % of the API's CPU (docs/benchmarks.md); policies
change rarely. Entries are never trusted blindly: the hold statement compares the cached
``policy_version`` with the row's and answers ``stale_policy`` when they differ (triggers
bump it on every change to the profile, the rules or the overrides), so an edit made by
another process mid-race is seen on the very next hold.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from server.availability.repository import TutorPolicy, load_tutor_policy
from server.db import Session

MAX_ENTRIES = 10_000

_cache: OrderedDict[uuid.UUID, TutorPolicy] = OrderedDict()


async def cached_policy(session: Session, tutor_id: uuid.UUID) -> TutorPolicy:
    """The tutor's policy from this process's cache, loaded on a miss."""
    entry = _cache.get(tutor_id)
    if entry is not None:
        _cache.move_to_end(tutor_id)
        return entry
    entry = await load_tutor_policy(session, tutor_id)
    _cache[tutor_id] = entry
    if len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    return entry


def forget(tutor_id: uuid.UUID) -> None:
    """Drop the tutor's entry (it was found stale)."""
    _cache.pop(tutor_id, None)


async def fresh_policy(session: Session, tutor_id: uuid.UUID) -> TutorPolicy:
    """The tutor's policy read now (and cached): for paths whose statements do not check
    ``policy_version`` themselves."""
    forget(tutor_id)
    return await cached_policy(session, tutor_id)
