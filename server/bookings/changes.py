"""What watchers must be told after a booking change: the default-length slots around it.

``slots.changed`` carries, for every slot of the tutor's shortest lesson whose guarded
range touches a changed booking, its status *now*: ``open``, ``held`` (with
``held_until``) or ``booked`` (gone from the listing). Applying the changes to a snapshot
of ``GET /tutors/{id}/slots`` at the previous version gives exactly the listing at the new
version, so a watcher's view never drifts from the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import Range

from server.availability import policies
from server.availability.service import load_busy
from server.availability.slots import DateOverride, Slot, SlotPolicy, WeeklyRule, compute_slots
from server.db import Session
from server.tutors.errors import TutorNotFound


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def touching(policy: SlotPolicy, rules: Sequence[WeeklyRule], overrides: Sequence[DateOverride],
             changed: Range[datetime], now: datetime) -> list[Slot]:
    """The default-length slots the tutor offers (bookings aside) whose guarded range meets
    ``changed``: the ones whose status a change of ``changed`` may move."""
    lo, hi = changed.lower, changed.upper
    if lo is None or hi is None:
        return []
    minutes = min(policy.lesson_minutes)
    reach = timedelta(minutes=minutes + policy.buffer_minutes)
    return [s for s in compute_slots(policy, rules, overrides, [], lo - reach, hi, minutes, now)
            if s.start < hi and s.start + reach > lo]


async def slot_changes(session: Session, policy: SlotPolicy, rules: Sequence[WeeklyRule],
                       overrides: Sequence[DateOverride], tutor_id: uuid.UUID,
                       ranges: Sequence[Range[datetime]], now: datetime) -> list[dict[str, Any]]:
    """The current status of every default-length slot touching ``ranges`` (guarded ranges)."""
    minutes = min(policy.lesson_minutes)
    reach = timedelta(minutes=minutes + policy.buffer_minutes)
    changes: dict[datetime, dict[str, Any]] = {}
    for changed in ranges:
        candidates = touching(policy, rules, overrides, changed, now)
        if not candidates or changed.lower is None or changed.upper is None:
            continue
        window_from, window_to = changed.lower - reach, changed.upper
        busy = await load_busy(session, tutor_id, window_from, window_to + reach, now)
        current = {s.start: s for s in compute_slots(policy, rules, overrides, busy, window_from, window_to,
                                                     minutes, now)}
        for cand in candidates:
            slot = current.get(cand.start)
            entry: dict[str, Any] = {"start": _iso(cand.start), "end": _iso(cand.end),
                                     "status": slot.status if slot else "booked"}
            if slot is not None and slot.held_until is not None:
                entry["held_until"] = _iso(slot.held_until)
            changes[cand.start] = entry
    return [changes[k] for k in sorted(changes)]


async def changes_after_transition(session: Session, tutor_id: uuid.UUID, ranges: Sequence[Range[datetime]],
                                   now: datetime) -> list[dict[str, Any]]:
    """The slot changes a booking's transition makes, under the tutor's current policy; none
    when the tutor is no longer listed (nobody can watch or book their slots). A transition
    (expiry, completion, cancellation) must never fail because the tutor left: sweeps would
    stop at that booking and every later one would wait behind it."""
    try:
        tp = await policies.fresh_policy(session, tutor_id)
    except TutorNotFound:
        return []
    return await slot_changes(session, tp.policy, tp.rules, tp.overrides, tutor_id, ranges, now)
