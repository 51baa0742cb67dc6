"""Lesson materials: files of a booking in the file store (server/providers/storage.py).

Keys are ``bookings/<booking_id>/<random>/<file name>``. The store is the record: materials
are listed from it, and only the booking's student and tutor may upload, list or download
them; anyone else gets 404.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import unicodedata
import uuid

from models.booking import Booking
from models.integrations import ENDED_BOOKING_STATUSES
from server.bookings.materials import repository
from server.db import Session
from server.errors import Conflict, NotFound
from server.identity import Principal
from server.providers import storage
from server.settings import Settings

MATERIAL_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/webp", "image/gif", "text/plain", "text/markdown",
    "audio/mpeg", "audio/mp4", "video/mp4", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
})


class MaterialsClosed(Conflict):
    code = "booking_closed"
    message = "Materials cannot be added to a booking that was cancelled, released or has expired."


class MaterialsNotFound(NotFound):
    code = "not_found"
    message = "No such booking."


def safe_filename(name: str) -> str:
    """A file name safe as the last part of a key and in Content-Disposition."""
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(".-")
    return name[:100] or "file"


async def _party_booking(session: Session, principal: Principal, booking_id: uuid.UUID) -> Booking:
    booking = await repository.get_booking(session, booking_id)
    if booking is None or principal.id not in (booking.student_id, booking.tutor_id):
        raise MaterialsNotFound()
    return booking


async def presign_material(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                           filename: str, content_type: str, size: int | None) -> storage.PresignedUpload:
    """A presigned POST for a lesson material of a booking the caller is a party to."""
    storage.require(settings)
    booking = await _party_booking(session, principal, booking_id)
    if booking.status in ENDED_BOOKING_STATUSES:
        raise MaterialsClosed(details={"status": booking.status})
    if content_type not in MATERIAL_TYPES:
        raise storage.UnsupportedFileType(details={"allowed": sorted(MATERIAL_TYPES)})
    storage.check_size(size, settings.s3_material_max_bytes)
    name = safe_filename(filename)
    if "." not in name:
        name += mimetypes.guess_extension(content_type) or ""
    key = f"bookings/{booking_id}/{secrets.token_hex(8)}/{name}"
    return await storage.presign_upload(settings, key, content_type, settings.s3_material_max_bytes)


async def list_materials(session: Session, settings: Settings, principal: Principal,
                         booking_id: uuid.UUID) -> list[storage.StoredFile]:
    """The booking's materials, oldest first, each with a short-lived download URL."""
    storage.require(settings)
    await _party_booking(session, principal, booking_id)
    return await storage.files_under(settings, f"bookings/{booking_id}/")
