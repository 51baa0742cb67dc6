"""Tutor avatars in the file store (server/providers/storage.py).

Keys are ``avatars/<tutor_id>/<random>.<ext>``: the tutor uploads with a presigned form, then
makes the upload their avatar (``PUT /tutors/me/avatar``); anyone gets it through a redirect
to a short-lived presigned URL. Each form is recorded in ``uploads`` (models/upload.py): an
upload never made the avatar, and the avatar it replaces, are deleted by ``uploads.sweep``.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from models.upload import UploadKind, UploadState
from server.db import Session
from server.errors import Conflict, NotFound
from server.providers import storage
from server.settings import Settings
from server.tutors.avatars import repository
from server.uploads import repository as uploads
from server.uploads import service as lifecycle

AVATAR_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class TooManyAvatarForms(Conflict):
    code = "too_many_upload_forms"
    message = "You have as many avatar upload forms open as allowed; use one or wait until they lapse."


class UploadNotFound(NotFound):
    code = "upload_not_found"
    message = "No uploaded file with that key; upload it first with the presigned form."


async def presign_avatar(session: Session, settings: Settings, tutor_id: uuid.UUID, content_type: str,
                         size: int | None, now: datetime) -> storage.PresignedUpload:
    """A presigned POST for a new avatar image of ``tutor_id``."""
    storage.require(settings)
    ext = AVATAR_TYPES.get(content_type)
    if ext is None:
        raise storage.UnsupportedFileType(f"Avatars must be one of {', '.join(AVATAR_TYPES)}.",
                                          details={"allowed": list(AVATAR_TYPES)})
    storage.check_size(size, settings.s3_avatar_max_bytes)
    await uploads.lock_owner(session, tutor_id)  # concurrent requests cannot pass the cap together
    if await uploads.open_forms(session, tutor_id, UploadKind.AVATAR, now) >= settings.avatars_max_open_forms:
        raise TooManyAvatarForms(details={"max_open_forms": settings.avatars_max_open_forms,
                                          "expires_in": settings.s3_presign_ttl_seconds})
    key = f"avatars/{tutor_id}/{secrets.token_hex(8)}.{ext}"
    lifecycle.record(session, settings, key=key, kind=UploadKind.AVATAR, owner_id=tutor_id, booking_id=None,
                     name=key.rsplit("/", 1)[-1], content_type=content_type, size=settings.s3_avatar_max_bytes,
                     now=now)
    return await storage.presign_upload(settings, key, content_type, settings.s3_avatar_max_bytes)


async def set_avatar(session: Session, settings: Settings, tutor_id: uuid.UUID, key: str, now: datetime) -> str:
    """Make the uploaded ``key`` the tutor's avatar; returns it. The key must be one of theirs and
    exist. The avatar it replaces is marked for deletion."""
    storage.require(settings)
    if not key.startswith(f"avatars/{tutor_id}/"):
        raise UploadNotFound()
    profile = await repository.lock_profile(session, tutor_id)
    if profile is None:
        raise NotFound("Create your tutor profile (PUT /api/v1/tutors/me) first.", code="profile_not_found")
    row = await uploads.by_key(session, key, lock=True)
    if row is None or row.owner_id != tutor_id or row.kind != UploadKind.AVATAR:
        raise UploadNotFound()
    # The form fixed the content type and size; the store says whether the file arrived.
    if not await lifecycle.confirm(settings, row):
        raise UploadNotFound()
    await uploads.doom_other_avatars(session, tutor_id, keep=row.id)
    if profile.avatar_key and profile.avatar_key != key and await uploads.by_key(session, profile.avatar_key) is None:
        # An avatar from before uploads were recorded: record it, to be deleted.
        lifecycle.record(session, settings, key=profile.avatar_key, kind=UploadKind.AVATAR, owner_id=tutor_id,
                         booking_id=None, name=profile.avatar_key.rsplit("/", 1)[-1], content_type="image/*",
                         size=0, now=now).state = UploadState.DELETING
    profile.avatar_key = key
    return key


async def avatar_url(session: Session, settings: Settings, tutor_id: uuid.UUID) -> str:
    """A short-lived URL of the tutor's avatar; 404 when there is none."""
    storage.require(settings)
    profile = await repository.get_profile(session, tutor_id)
    if profile is None or not profile.is_active or not profile.avatar_key:
        raise NotFound("This tutor has no avatar.", code="avatar_not_found")
    return await storage.download_url(settings, profile.avatar_key)
