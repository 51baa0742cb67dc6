"""Lesson materials: files of a booking in the file store (server/providers/storage.py).

Keys are ``bookings/<booking_id>/<random>/<file name>``. Every key is recorded in ``uploads``
(models/upload.py) in the transaction that hands out its presigned form, under a lock on the
booking row, so the per-booking quotas (``MATERIALS_MAX_FILES_PER_BOOKING``,
``MATERIALS_MAX_BYTES_PER_BOOKING``) hold however many uploads race. Only the booking's student
and tutor may upload, list or download them (anyone else gets 404), only while the booking is
confirmed (or completed); the uploader may delete one. When the booking row is deleted its
files are marked for deletion (migration 0008's trigger) and ``uploads.sweep`` removes them.
"""

from __future__ import annotations

import logging
import mimetypes
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from models.booking import Booking, BookingStatus
from models.integrations import ENDED_BOOKING_STATUSES
from models.upload import Upload, UploadKind, UploadState
from server.bookings.materials import repository
from server.db import Session
from server.errors import Conflict, Forbidden, NotFound
from server.identity import Principal
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.providers import storage
from server.settings import Settings
from server.uploads import repository as uploads
from server.uploads import service as lifecycle

log = logging.getLogger("edustream.materials")

MATERIAL_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/webp", "image/gif", "text/plain", "text/markdown",
    "audio/mpeg", "audio/mp4", "video/mp4", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
})

# Bookings whose parties may add materials: paid for (or free and confirmed), lesson held or not.
OPEN_STATUSES = frozenset({BookingStatus.CONFIRMED, BookingStatus.COMPLETED})


class MaterialsClosed(Conflict):
    code = "booking_closed"
    message = "Materials cannot be added to a booking that was cancelled, released or has expired."


class MaterialsNotConfirmed(Conflict):
    code = "booking_not_confirmed"
    message = "Materials can be added once the booking is confirmed."


class MaterialsQuotaExceeded(Conflict):
    code = "materials_quota_exceeded"
    message = "This booking has as many materials as it may hold; delete one first."


class MaterialsNotFound(NotFound):
    code = "not_found"
    message = "No such booking."


class MaterialNotFound(NotFound):
    code = "material_not_found"
    message = "No such material in this booking."


class NotUploader(Forbidden):
    code = "not_uploader"
    message = "Only the person who uploaded a material may delete it."


@dataclass(frozen=True, slots=True)
class Material:
    id: uuid.UUID
    key: str
    name: str
    size: int
    content_type: str
    uploaded_by: uuid.UUID
    uploaded_at: datetime
    download_url: str


@dataclass(frozen=True, slots=True)
class MaterialPage:
    items: list[Material]
    next_cursor: str | None


def safe_filename(name: str) -> str:
    """A file name safe as the last part of a key and in Content-Disposition."""
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(".-")
    return name[:100] or "file"


def _party(booking: Booking | None, principal: Principal) -> Booking:
    if booking is None or principal.id not in (booking.student_id, booking.tutor_id):
        raise MaterialsNotFound()
    return booking


async def presign_material(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                           filename: str, content_type: str, size: int | None,
                           now: datetime) -> storage.PresignedUpload:
    """A presigned POST for a lesson material of a confirmed booking the caller is a party to.

    The form allows the declared ``size`` (or, undeclared, the per-file limit or what is left of
    the booking's byte quota, whichever is smaller); that many bytes are reserved until the
    object is seen in the store (then its real size counts) or the form lapses unused."""
    storage.require(settings)
    if content_type not in MATERIAL_TYPES:
        raise storage.UnsupportedFileType(details={"allowed": sorted(MATERIAL_TYPES)})
    storage.check_size(size, settings.s3_material_max_bytes)
    # The lock serialises the quota check and the insert with every other upload to this booking.
    booking = _party(await repository.lock_booking(session, booking_id), principal)
    if booking.status in ENDED_BOOKING_STATUSES:
        raise MaterialsClosed(details={"status": booking.status})
    if booking.status not in OPEN_STATUSES:
        raise MaterialsNotConfirmed(details={"status": booking.status})
    files, used = await uploads.booking_usage(session, booking_id)
    left = settings.materials_max_bytes_per_booking - used
    allowed = min(settings.s3_material_max_bytes, left) if size is None else size
    quota = {"max_files": settings.materials_max_files_per_booking, "files": files,
             "max_bytes": settings.materials_max_bytes_per_booking, "bytes_used": used}
    if files >= settings.materials_max_files_per_booking or allowed < 1 or allowed > left:
        raise MaterialsQuotaExceeded(details=quota)
    name = safe_filename(filename)
    if "." not in name:
        name += mimetypes.guess_extension(content_type) or ""
    key = f"bookings/{booking_id}/{secrets.token_hex(8)}/{name}"
    lifecycle.record(session, settings, key=key, kind=UploadKind.MATERIAL, owner_id=principal.id,
                     booking_id=booking_id, name=name, content_type=content_type, size=allowed, now=now)
    return await storage.presign_upload(settings, key, content_type, allowed)


def _decode(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    created, upload_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(created), uuid.UUID(upload_id)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


async def list_materials(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                         cursor: str | None, limit: int) -> MaterialPage:
    """The booking's materials in upload order, ``limit`` rows a page, each with a short-lived
    download URL. A form not yet used (its file not in the store) is left out of the page."""
    storage.require(settings)
    _party(await repository.get_booking(session, booking_id), principal)
    rows = list(await uploads.booking_page(session, booking_id, _decode(cursor), limit + 1))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].created_at.isoformat(), str(rows[-1].id)])
    items = [await _material(settings, row) for row in rows if await lifecycle.confirm(settings, row)]
    return MaterialPage(items=items, next_cursor=next_cursor)


async def _material(settings: Settings, row: Upload) -> Material:
    return Material(id=row.id, key=row.key, name=row.name, size=row.size, content_type=row.content_type,
                    uploaded_by=row.owner_id, uploaded_at=row.stored_at or row.created_at,
                    download_url=await storage.attachment_url(settings, row.key, row.name))


async def delete_material(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                          material_id: uuid.UUID) -> None:
    """Delete one of the booking's materials; only its uploader may. The row says ``deleting``
    at once (it leaves the listing and the quota); the object goes right after commit, or with
    the next ``uploads.sweep`` should the store not answer."""
    storage.require(settings)
    _party(await repository.get_booking(session, booking_id), principal)
    row = await uploads.get(session, material_id, lock=True)
    if row is None or row.booking_id != booking_id or row.state not in (UploadState.PENDING, UploadState.STORED):
        raise MaterialNotFound()
    if row.owner_id != principal.id:
        raise NotUploader()
    lifecycle.doom(row)
    key = row.key

    async def remove() -> None:
        try:
            await storage.delete(settings, [key])
        except storage.StorageUnavailable:
            log.warning("could not delete %s now; uploads.sweep will", key)

    session.after_commit(remove)
