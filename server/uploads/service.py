"""The lifecycle of stored objects (models/upload.py's states).

A domain records a row with :func:`record` in the transaction that hands out the presigned
form, so no object can appear in the store without a row naming it. :func:`confirm` moves a
pending row to ``stored`` once the object is seen; rows marked ``deleting`` (by their uploader,
a purged booking, a replaced avatar) and forms that lapsed unused are settled by
:func:`delete_due` and :func:`settle_lapsed`, which ``uploads.sweep`` runs in batches.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from models.upload import Upload, UploadKind, UploadState
from server.db import Session
from server.providers import storage
from server.settings import Settings
from server.uploads import repository


def record(session: Session, settings: Settings, *, key: str, kind: UploadKind, owner_id: uuid.UUID,
           booking_id: uuid.UUID | None, name: str, content_type: str, size: int, now: datetime) -> Upload:
    """A ``pending`` row for a form about to be handed out (``size``: the bytes it allows)."""
    upload = Upload(key=key, kind=kind, owner_id=owner_id, booking_id=booking_id, name=name,
                    content_type=content_type, size=size, state=UploadState.PENDING,
                    expires_at=now + timedelta(seconds=settings.s3_presign_ttl_seconds))
    repository.add(session, upload)
    return upload


async def confirm(settings: Settings, upload: Upload) -> bool:
    """Whether the row's object is in the store; a pending row seen there becomes ``stored``
    with the object's real size and time."""
    if upload.state == UploadState.STORED:
        return True
    if upload.state != UploadState.PENDING:
        return False
    info = await storage.head(settings, upload.key)
    if info is None:
        return False
    upload.state, upload.size, upload.stored_at = UploadState.STORED, info.size, info.last_modified
    return True


def doom(upload: Upload) -> None:
    """Mark one loaded row for deletion (the object goes with the next sweep)."""
    if upload.state in (UploadState.PENDING, UploadState.STORED):
        upload.state = UploadState.DELETING


async def delete_due(session: Session, settings: Settings, now: datetime, limit: int) -> int:
    """Remove up to ``limit`` objects whose rows say they must go; how many rows it settled."""
    rows = await repository.due_deletions(session, limit)
    if rows:
        await storage.delete(settings, [r.key for r in rows])
    for row in rows:
        row.state, row.deleted_at = UploadState.DELETED, now
    return len(rows)


async def settle_lapsed(session: Session, settings: Settings, now: datetime, limit: int) -> int:
    """Settle up to ``limit`` pending rows whose form lapsed ``UPLOADS_ORPHAN_GRACE_SECONDS``
    ago: a material that arrived is ``stored`` (its booking still there); anything else (an
    avatar upload never made the avatar, a material that never arrived) is deleted from the
    store, should it exist, and ``deleted``. How many rows it settled."""
    rows = await repository.lapsed_pending(session, now - timedelta(seconds=settings.uploads_orphan_grace_seconds),
                                           limit)
    doomed: list[Upload] = []
    for row in rows:
        if row.kind == UploadKind.MATERIAL and row.booking_id is not None and await confirm(settings, row):
            continue
        doomed.append(row)
    if doomed:
        await storage.delete(settings, [r.key for r in doomed])
    for row in doomed:
        row.state, row.deleted_at = UploadState.DELETED, now
    return len(rows)
