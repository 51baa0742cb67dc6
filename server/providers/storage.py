"""Files in an S3-compatible store (MinIO, AWS S3, …) through aioboto3: tutor avatars and
per-booking lesson materials.

Uploads never pass through the API. The API hands out a *presigned POST* whose policy the
store enforces: the exact key, the declared ``Content-Type`` and a ``content-length-range``
(1 byte … the size limit), valid for ``S3_PRESIGN_TTL_SECONDS``. Downloads are short-lived
presigned GET URLs. Keys:

* ``avatars/<tutor_id>/<random>.<ext>`` — set as the tutor's avatar once uploaded
  (``PUT /tutors/me/avatar``), served to anyone through a redirect to a presigned URL;
* ``bookings/<booking_id>/<random>/<file name>`` — listed (the store is the record) and
  downloadable only by the booking's student and tutor; anyone else gets 404.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from models.booking import Booking
from models.tutor import TutorProfile
from server.auth.tokens import Principal
from server.db import Session
from server.errors import Conflict, InvalidRequest, NotFound, ServiceUnavailable
from server.settings import Settings

AVATAR_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MATERIAL_TYPES = frozenset({
    "application/pdf", "image/jpeg", "image/png", "image/webp", "image/gif", "text/plain", "text/markdown",
    "audio/mpeg", "audio/mp4", "video/mp4", "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
})
CLOSED_STATUSES = ("expired", "released", "cancelled")


class StorageNotConfigured(ServiceUnavailable):
    code = "storage_not_configured"
    message = "File storage is not configured on this server (S3_* settings)."


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"
    message = "The file store did not answer; try again shortly."


class UnsupportedFileType(InvalidRequest):
    code = "unsupported_file_type"
    message = "That file type is not accepted here."


class FileTooLarge(InvalidRequest):
    code = "file_too_large"
    message = "That file is larger than allowed."


class UploadNotFound(NotFound):
    code = "upload_not_found"
    message = "No uploaded file with that key; upload it first with the presigned form."


class MaterialsClosed(Conflict):
    code = "booking_closed"
    message = "Materials cannot be added to a booking that was cancelled, released or has expired."


class MaterialsNotFound(NotFound):
    code = "not_found"
    message = "No such booking."


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    fields: dict[str, str]
    key: str
    expires_in: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class StoredFile:
    key: str
    name: str
    size: int
    uploaded_at: datetime
    download_url: str


def _require(settings: Settings) -> None:
    if not settings.storage_configured:
        raise StorageNotConfigured()


@asynccontextmanager
async def s3_client(settings: Settings, *, public: bool = False) -> AsyncIterator[Any]:
    """An aioboto3 S3 client for the configured store (path-style addressing, SigV4). ``public``:
    addressed as browsers reach the store (``S3_PUBLIC_ENDPOINT_URL``), for presigning; a
    signature covers the host, so a URL signed for an internal name would not work outside."""
    _require(settings)
    session = aioboto3.Session()
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                    connect_timeout=settings.integrations_http_timeout_seconds,
                    read_timeout=settings.integrations_http_timeout_seconds, retries={"max_attempts": 2})
    endpoint = (settings.s3_public_endpoint_url if public else "") or settings.s3_endpoint_url or None
    async with session.client("s3", endpoint_url=endpoint, region_name=settings.s3_region,
                              aws_access_key_id=settings.s3_access_key_id,
                              aws_secret_access_key=settings.s3_secret_access_key, config=config) as client:
        try:
            yield client
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(details={"reason": str(exc)[:200]}) from exc


def safe_filename(name: str) -> str:
    """A file name safe as the last part of a key and in Content-Disposition."""
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(".-")
    return name[:100] or "file"


async def _presign(settings: Settings, key: str, content_type: str, max_bytes: int) -> PresignedUpload:
    async with s3_client(settings, public=True) as s3:
        post = await s3.generate_presigned_post(
            settings.s3_bucket, key, Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=settings.s3_presign_ttl_seconds)
    return PresignedUpload(url=post["url"], fields=dict(post["fields"]), key=key,
                           expires_in=settings.s3_presign_ttl_seconds, max_bytes=max_bytes)


def _check_size(size: int | None, limit: int) -> None:
    if size is not None and size > limit:
        raise FileTooLarge(f"The file is {size} bytes; at most {limit} are accepted.",
                           details={"max_bytes": limit, "size": size})


async def presign_avatar(settings: Settings, tutor_id: uuid.UUID, content_type: str,
                         size: int | None) -> PresignedUpload:
    """A presigned POST for a new avatar image of ``tutor_id``."""
    _require(settings)
    ext = AVATAR_TYPES.get(content_type)
    if ext is None:
        raise UnsupportedFileType(f"Avatars must be one of {', '.join(AVATAR_TYPES)}.",
                                  details={"allowed": list(AVATAR_TYPES)})
    _check_size(size, settings.s3_avatar_max_bytes)
    key = f"avatars/{tutor_id}/{secrets.token_hex(8)}.{ext}"
    return await _presign(settings, key, content_type, settings.s3_avatar_max_bytes)


async def set_avatar(session: Session, settings: Settings, tutor_id: uuid.UUID, key: str) -> str:
    """Make the uploaded ``key`` the tutor's avatar; returns it. The key must be one of theirs and exist."""
    _require(settings)
    if not key.startswith(f"avatars/{tutor_id}/"):
        raise UploadNotFound()
    profile = await session.get(TutorProfile, tutor_id, with_for_update=True)
    if profile is None:
        raise NotFound("Create your tutor profile (PUT /api/v1/tutors/me) first.", code="profile_not_found")
    async with s3_client(settings) as s3:
        try:
            head = await s3.head_object(Bucket=settings.s3_bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise UploadNotFound() from exc
            raise
    if head.get("ContentType") not in AVATAR_TYPES:
        raise UnsupportedFileType(details={"allowed": list(AVATAR_TYPES)})
    profile.avatar_key = key
    return key


async def avatar_url(session: Session, settings: Settings, tutor_id: uuid.UUID) -> str:
    """A short-lived URL of the tutor's avatar; 404 when there is none."""
    _require(settings)
    profile = await session.get(TutorProfile, tutor_id)
    if profile is None or not profile.is_active or not profile.avatar_key:
        raise NotFound("This tutor has no avatar.", code="avatar_not_found")
    async with s3_client(settings, public=True) as s3:
        url: str = await s3.generate_presigned_url("get_object", Params={"Bucket": settings.s3_bucket,
                                                                         "Key": profile.avatar_key},
                                                   ExpiresIn=settings.s3_presign_ttl_seconds)
    return url


async def _party_booking(session: Session, principal: Principal, booking_id: uuid.UUID) -> Booking:
    booking = await session.get(Booking, booking_id)
    if booking is None or principal.id not in (booking.student_id, booking.tutor_id):
        raise MaterialsNotFound()
    return booking


async def presign_material(session: Session, settings: Settings, principal: Principal, booking_id: uuid.UUID,
                           filename: str, content_type: str, size: int | None) -> PresignedUpload:
    """A presigned POST for a lesson material of a booking the caller is a party to."""
    _require(settings)
    booking = await _party_booking(session, principal, booking_id)
    if booking.status in CLOSED_STATUSES:
        raise MaterialsClosed(details={"status": booking.status})
    if content_type not in MATERIAL_TYPES:
        raise UnsupportedFileType(details={"allowed": sorted(MATERIAL_TYPES)})
    _check_size(size, settings.s3_material_max_bytes)
    name = safe_filename(filename)
    if "." not in name:
        name += mimetypes.guess_extension(content_type) or ""
    key = f"bookings/{booking_id}/{secrets.token_hex(8)}/{name}"
    return await _presign(settings, key, content_type, settings.s3_material_max_bytes)


async def list_materials(session: Session, settings: Settings, principal: Principal,
                         booking_id: uuid.UUID) -> list[StoredFile]:
    """The booking's materials, oldest first, each with a short-lived download URL."""
    _require(settings)
    await _party_booking(session, principal, booking_id)
    prefix = f"bookings/{booking_id}/"
    found: list[dict[str, Any]] = []
    async with s3_client(settings) as s3:
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=settings.s3_bucket, Prefix=prefix):
            found.extend(page.get("Contents", []))
    files: list[StoredFile] = []
    async with s3_client(settings, public=True) as signer:
        for obj in found:
            name = obj["Key"].rsplit("/", 1)[-1]
            url = await signer.generate_presigned_url("get_object", Params={
                "Bucket": settings.s3_bucket, "Key": obj["Key"],
                "ResponseContentDisposition": f'attachment; filename="{name}"'},
                ExpiresIn=settings.s3_presign_ttl_seconds)
            files.append(StoredFile(key=obj["Key"], name=name, size=int(obj["Size"]),
                                    uploaded_at=obj["LastModified"], download_url=url))
    return sorted(files, key=lambda f: (f.uploaded_at, f.key))
