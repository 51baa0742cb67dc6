"""HTTP routes of tutor avatars."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.responses import RedirectResponse, Response

from server.db import Session
from server.http import TUTOR, Ctx, Router
from server.providers import storage
from server.tutors.avatars import service
from server.tutors.avatars.schemas import AvatarIn, AvatarOut, AvatarUploadIn, UploadOut

router = Router("/api/v1", tags=["integrations"])

@router.post("/tutors/me/avatar/upload", auth=TUTOR, summary="Get a presigned form to upload an avatar",
             errors=[*storage.UPLOAD_ERRORS, service.TooManyAvatarForms])
async def avatar_upload(ctx: Ctx, session: Session, body: AvatarUploadIn) -> UploadOut:
    """POST `fields` and then the image as `file` (multipart/form-data) to `url`. The store
    refuses another content type or more than S3_AVATAR_MAX_BYTES. Then `PUT /tutors/me/avatar`.
    409 `too_many_upload_forms` past AVATARS_MAX_OPEN_FORMS unused, unexpired forms;
    an upload not made the avatar is deleted UPLOADS_ORPHAN_GRACE_SECONDS after the form lapsed."""
    upload = await service.presign_avatar(session, ctx.settings, ctx.user.id, body.content_type, body.size,
                                          datetime.now(UTC))
    return UploadOut.model_validate(upload, from_attributes=True)


@router.put("/tutors/me/avatar", auth=TUTOR, summary="Use an uploaded image as your avatar",
            errors=[*storage.UPLOAD_ERRORS, service.UploadNotFound])
async def put_avatar(ctx: Ctx, session: Session, body: AvatarIn) -> AvatarOut:
    """404 `upload_not_found` unless the key is one of your finished avatar uploads."""
    key = await service.set_avatar(session, ctx.settings, ctx.user.id, body.key, datetime.now(UTC))
    return AvatarOut(key=key, url=f"{ctx.settings.public_url.rstrip('/')}/api/v1/tutors/{ctx.user.id}/avatar")


@router.get("/tutors/{tutor_id}/avatar", summary="A tutor's avatar (redirect to the image)",
            errors=[storage.StorageNotConfigured])
async def get_avatar(ctx: Ctx, session: Session, tutor_id: uuid.UUID) -> Response:
    """302 to a short-lived image URL; 404 `avatar_not_found` when the tutor has none."""
    url = await service.avatar_url(session, ctx.settings, tutor_id)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "private, max-age=60"})
