"""HTTP routes of lesson materials."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.bookings.materials import service
from server.bookings.materials.schemas import MaterialOut, MaterialsOut, MaterialsQuery, MaterialUploadIn
from server.db import Session
from server.http import SIGNED_IN, Ctx, Router
from server.pagination import InvalidCursor
from server.providers import storage
from server.tutors.avatars.schemas import UploadOut

router = Router("/api/v1", tags=["integrations"])


@router.post("/bookings/{booking_id}/materials/upload", auth=SIGNED_IN,
             summary="Get a presigned form to upload a lesson material",
             errors=[*storage.UPLOAD_ERRORS, service.MaterialsNotFound, service.MaterialsClosed,
                     service.MaterialsNotConfirmed, service.MaterialsQuotaExceeded])
async def material_upload(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: MaterialUploadIn) -> UploadOut:
    """For the student or tutor of a confirmed (or completed) booking (404 for anyone else, 409
    `booking_not_confirmed` while held, `booking_closed` once cancelled/released/expired).
    Documents, images, audio and video up to S3_MATERIAL_MAX_BYTES each; a booking holds at most
    MATERIALS_MAX_FILES_PER_BOOKING files and MATERIALS_MAX_BYTES_PER_BOOKING bytes (409
    `materials_quota_exceeded`). The store enforces type and size."""
    upload = await service.presign_material(session, ctx.settings, ctx.user, booking_id, body.filename,
                                            body.content_type, body.size, datetime.now(UTC))
    return UploadOut.model_validate(upload, from_attributes=True)


@router.get("/bookings/{booking_id}/materials", auth=SIGNED_IN, summary="A booking's lesson materials",
            errors=[storage.StorageNotConfigured, storage.StorageUnavailable, service.MaterialsNotFound,
                    InvalidCursor])
async def list_materials(ctx: Ctx, session: Session, booking_id: uuid.UUID, query: MaterialsQuery) -> MaterialsOut:
    """The materials uploaded for the booking, oldest first and cursor-paginated, with
    short-lived download links; only for its student and tutor (404 for anyone else)."""
    page = await service.list_materials(session, ctx.settings, ctx.user, booking_id, query.cursor, query.limit)
    return MaterialsOut(booking_id=booking_id, next_cursor=page.next_cursor,
                        items=[MaterialOut.model_validate(m, from_attributes=True) for m in page.items])


@router.delete("/bookings/{booking_id}/materials/{material_id}", auth=SIGNED_IN,
               summary="Delete a lesson material you uploaded",
               errors=[storage.StorageNotConfigured, service.MaterialsNotFound, service.MaterialNotFound,
                       service.NotUploader])
async def delete_material(ctx: Ctx, session: Session, booking_id: uuid.UUID, material_id: uuid.UUID) -> None:
    """204; 403 `not_uploader` for the booking's other party; the file leaves the store at once."""
    await service.delete_material(session, ctx.settings, ctx.user, booking_id, material_id)
