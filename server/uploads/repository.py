"""SQL over ``uploads``: the rows lesson materials and avatars write, and the sweep reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, tuple_, update

from models.upload import HELD_STATES, Upload, UploadKind, UploadState
from models.user import User
from server.db import Session


def add(session: Session, upload: Upload) -> None:
    """Record an object the store may hold from now on (flushed with the unit of work)."""
    session.add(upload)


async def booking_usage(session: Session, booking_id: uuid.UUID) -> tuple[int, int]:
    """How many of the booking's objects exist or may still appear, and their bytes (reserved
    bytes for pending forms)."""
    row = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Upload.size), 0))
        .where(Upload.booking_id == booking_id, Upload.state.in_(HELD_STATES)))).one()
    return int(row[0]), int(row[1])


async def lock_owner(session: Session, owner_id: uuid.UUID) -> None:
    """Lock the user row: their uploads that are not a booking's queue behind it."""
    await session.execute(select(User.id).where(User.id == owner_id).with_for_update())


async def open_forms(session: Session, owner_id: uuid.UUID, kind: UploadKind, now: datetime) -> int:
    """How many of the owner's forms of ``kind`` can still be used."""
    return int(await session.scalar(select(func.count()).where(
        Upload.owner_id == owner_id, Upload.kind == kind, Upload.state == UploadState.PENDING,
        Upload.expires_at > now)) or 0)


async def booking_page(session: Session, booking_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None,
                       limit: int) -> Sequence[Upload]:
    """The booking's live materials, oldest first, after the keyset ``after``."""
    query = select(Upload).where(Upload.booking_id == booking_id, Upload.state.in_(HELD_STATES))
    if after is not None:
        query = query.where(tuple_(Upload.created_at, Upload.id) > tuple_(*after))
    return (await session.scalars(query.order_by(Upload.created_at, Upload.id).limit(limit))).all()


async def get(session: Session, upload_id: uuid.UUID, *, lock: bool = False) -> Upload | None:
    """One row by id."""
    return await session.get(Upload, upload_id, with_for_update=lock)


async def by_key(session: Session, key: str, *, lock: bool = False) -> Upload | None:
    """One row by its object key."""
    query = select(Upload).where(Upload.key == key)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).one_or_none()


async def doom(session: Session, upload_ids: Sequence[uuid.UUID]) -> None:
    """Mark rows whose objects must go (the sweep removes them)."""
    await session.execute(update(Upload).where(Upload.id.in_(upload_ids), Upload.state.in_(HELD_STATES))
                          .values(state=UploadState.DELETING))


async def doom_other_avatars(session: Session, owner_id: uuid.UUID, keep: uuid.UUID) -> None:
    """Every avatar of ``owner_id`` but ``keep`` that was made an avatar (``stored``) must go."""
    await session.execute(update(Upload).where(
        Upload.owner_id == owner_id, Upload.kind == UploadKind.AVATAR, Upload.id != keep,
        Upload.state == UploadState.STORED).values(state=UploadState.DELETING))


async def due_deletions(session: Session, limit: int) -> Sequence[Upload]:
    """Rows whose objects must go, locked (others skip them)."""
    return (await session.scalars(
        select(Upload).where(Upload.state == UploadState.DELETING).order_by(Upload.updated_at)
        .limit(limit).with_for_update(skip_locked=True))).all()


async def lapsed_pending(session: Session, formed_before: datetime, limit: int) -> Sequence[Upload]:
    """Pending rows whose form expired before ``formed_before``, locked (others skip them)."""
    return (await session.scalars(
        select(Upload).where(Upload.state == UploadState.PENDING, Upload.expires_at < formed_before)
        .order_by(Upload.expires_at).limit(limit).with_for_update(skip_locked=True))).all()
