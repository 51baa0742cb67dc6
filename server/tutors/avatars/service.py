"""Tutor avatars in the file store (server/providers/storage.py).

Keys are ``avatars/<tutor_id>/<random>.<ext>``: the tutor uploads with a presigned form, then
makes the upload their avatar (``PUT /tutors/me/avatar``); anyone gets it through a redirect
to a short-lived presigned URL.
"""

from __future__ import annotations

import secrets
import uuid

from server.db import Session
from server.errors import NotFound
from server.providers import storage
from server.settings import Settings
from server.tutors.avatars import repository

AVATAR_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class UploadNotFound(NotFound):
    code = "upload_not_found"
    message = "No uploaded file with that key; upload it first with the presigned form."


async def presign_avatar(settings: Settings, tutor_id: uuid.UUID, content_type: str,
                         size: int | None) -> storage.PresignedUpload:
    """A presigned POST for a new avatar image of ``tutor_id``."""
    storage.require(settings)
    ext = AVATAR_TYPES.get(content_type)
    if ext is None:
        raise storage.UnsupportedFileType(f"Avatars must be one of {', '.join(AVATAR_TYPES)}.",
                                          details={"allowed": list(AVATAR_TYPES)})
    storage.check_size(size, settings.s3_avatar_max_bytes)
    key = f"avatars/{tutor_id}/{secrets.token_hex(8)}.{ext}"
    return await storage.presign_upload(settings, key, content_type, settings.s3_avatar_max_bytes)


async def set_avatar(session: Session, settings: Settings, tutor_id: uuid.UUID, key: str) -> str:
    """Make the uploaded ``key`` the tutor's avatar; returns it. The key must be one of theirs and exist."""
    storage.require(settings)
    if not key.startswith(f"avatars/{tutor_id}/"):
        raise UploadNotFound()
    profile = await repository.lock_profile(session, tutor_id)
    if profile is None:
        raise NotFound("Create your tutor profile (PUT /api/v1/tutors/me) first.", code="profile_not_found")
    content_type = await storage.content_type_of(settings, key)
    if content_type is None:
        raise UploadNotFound()
    if content_type not in AVATAR_TYPES:
        raise storage.UnsupportedFileType(details={"allowed": list(AVATAR_TYPES)})
    profile.avatar_key = key
    return key


async def avatar_url(session: Session, settings: Settings, tutor_id: uuid.UUID) -> str:
    """A short-lived URL of the tutor's avatar; 404 when there is none."""
    storage.require(settings)
    profile = await repository.get_profile(session, tutor_id)
    if profile is None or not profile.is_active or not profile.avatar_key:
        raise NotFound("This tutor has no avatar.", code="avatar_not_found")
    return await storage.download_url(settings, profile.avatar_key)
