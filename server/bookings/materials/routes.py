"""HTTP routes of lesson materials."""

from __future__ import annotations

import uuid

from server.bookings.materials import service
from server.bookings.materials.schemas import MaterialOut, MaterialsOut, MaterialUploadIn
from server.db import Session
from server.http import SIGNED_IN, Ctx, Router
from server.providers import storage
from server.tutors.avatars.schemas import UploadOut

router = Router("/api/v1", tags=["integrations"])


@router.post("/bookings/{booking_id}/materials/upload", auth=SIGNED_IN,
             summary="Get a presigned form to upload a lesson material",
             errors=[*storage.UPLOAD_ERRORS, service.MaterialsNotFound, service.MaterialsClosed])
async def material_upload(ctx: Ctx, session: Session, booking_id: uuid.UUID, body: MaterialUploadIn) -> UploadOut:
    """For the booking's student or tutor (404 for anyone else). Documents, images, audio and
    video up to S3_MATERIAL_MAX_BYTES; the store enforces type and size."""
    upload = await service.presign_material(session, ctx.settings, ctx.user, booking_id, body.filename,
                                            body.content_type, body.size)
    return UploadOut.model_validate(upload, from_attributes=True)


@router.get("/bookings/{booking_id}/materials", auth=SIGNED_IN, summary="A booking's lesson materials",
            errors=[storage.StorageNotConfigured, storage.StorageUnavailable, service.MaterialsNotFound])
async def list_materials(ctx: Ctx, session: Session, booking_id: uuid.UUID) -> MaterialsOut:
    """Every material uploaded for the booking, with short-lived download links; only for its
    student and tutor (404 for anyone else)."""
    files = await service.list_materials(session, ctx.settings, ctx.user, booking_id)
    return MaterialsOut(booking_id=booking_id,
                        items=[MaterialOut.model_validate(f, from_attributes=True) for f in files])
