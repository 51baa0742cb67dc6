"""What a ``watch`` answers: a slots snapshot, or the changes a returning watcher missed.

Reads only; the namespace calls these inside a unit of work. The snapshot is the very
listing ``GET /tutors/{id}/slots`` serves (its default window), so live and REST agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime, select, text
from sqlalchemy.dialects.postgresql import JSONB

from models.tutor import TutorProfile
from realtime.schemas import SlotChange, WatchChanges
from server.availability.schemas import SlotsOut
from server.availability.service import get_slots, tutor_version
from server.db import Session
from server.rendered import Rendered
from server.settings import Settings
from server.tutors.service import TutorNotFound

_MISSED = text(
    "SELECT version, payload, created_at FROM outbox "
    "WHERE tutor_id = :tutor_id AND event = 'slots.changed' AND version > :since AND version <= :version "
    "ORDER BY version, id").columns(version=BigInteger, payload=JSONB, created_at=DateTime(timezone=True))


async def snapshot(session: Session, settings: Settings, tutor_id: uuid.UUID, now: datetime) -> Rendered[SlotsOut]:
    """The default window of the tutor's slots with the version it reflects (as the JSON REST serves)."""
    return await get_slots(session, settings, tutor_id, now)


async def watch(session: Session, settings: Settings, tutor_id: uuid.UUID, since: int | None,
                now: datetime) -> Rendered[SlotsOut] | WatchChanges:
    """A snapshot, or with ``since`` the merged changes after it when all of them are still kept.

    Snapshots come from the per-tutor, per-version cache the REST listing uses
    (:mod:`server.availability.snapshots`), so a storm of watches at one version computes the
    listing once; a watch with ``since`` at the current version answers without reading the outbox.

    Falls back to a snapshot when any version after ``since`` is missing, older than
    ``LIVE_HISTORY_SECONDS``, or a ``resync`` (an availability edit, which no slot list
    describes); also when ``since`` is ahead of the tutor's version. Everything is read in
    one REPEATABLE READ snapshot, so the version and the changes (or slots) agree.
    """
    if since is None:
        return await snapshot(session, settings, tutor_id, now)
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    active = await session.scalar(select(TutorProfile.user_id).where(TutorProfile.user_id == tutor_id,
                                                                     TutorProfile.is_active.is_(True)))
    if active is None:
        raise TutorNotFound()
    version = await tutor_version(session, tutor_id)
    if since > version:
        return await snapshot(session, settings, tutor_id, now)
    if since == version:  # a repeated watch at the current version: nothing was missed
        return WatchChanges(tutor_id=tutor_id, version=version, since=since, changes=[])
    rows = (await session.execute(_MISSED, {"tutor_id": tutor_id, "since": since, "version": version})).all()
    changes = merge_changes(rows, since=since, version=version,
                            oldest=now - timedelta(seconds=settings.live_history_seconds))
    if changes is None:
        return await snapshot(session, settings, tutor_id, now)
    return WatchChanges(tutor_id=tutor_id, version=version, since=since, changes=changes)


def merge_changes(rows: Any, *, since: int, version: int, oldest: datetime) -> list[SlotChange] | None:
    """The last status of every slot changed in versions ``since+1 … version``, by start time.

    Each change states a slot's status absolutely, so only the last one per slot matters.
    None when the rows are not exactly those versions, one is too old, or one is a resync.
    """
    if [row.version for row in rows] != list(range(since + 1, version + 1)):
        return None
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        payload = row.payload
        if payload.get("resync") or row.created_at < oldest:
            return None
        for change in payload.get("changes", []):
            latest[change["start"]] = change
    merged = [SlotChange.model_validate(c) for c in latest.values()]
    return sorted(merged, key=lambda c: c.start)
