"""Files in an S3-compatible store (MinIO, AWS S3, …) through aioboto3.

Uploads never pass through the API. The API hands out a *presigned POST* whose policy the
store enforces: the exact key, the declared ``Content-Type`` and a ``content-length-range``
(1 byte … the size limit), valid for ``S3_PRESIGN_TTL_SECONDS``. Downloads are short-lived
presigned GET URLs. What goes under which key, and who may have it, is the domains' business
(server/tutors/avatars/, server/bookings/materials/).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from server.errors import AppError, FeatureDisabled, InvalidRequest, ServiceUnavailable
from server.settings import Settings

log = logging.getLogger("edustream.providers.storage")


class StorageNotConfigured(FeatureDisabled):
    """Uploads and files are switched off until the ``S3_*`` settings are there: 404 ``feature_disabled``."""

    message = "File uploads are not enabled on this server."


class StorageUnavailable(ServiceUnavailable):
    """The store failed. Its own message (internal endpoint addresses, bucket names, request
    ids) is logged, never sent to the client."""

    code = "storage_unavailable"
    message = "The file store did not answer; try again shortly."


class UnsupportedFileType(InvalidRequest):
    code = "unsupported_file_type"
    message = "That file type is not accepted here."


class FileTooLarge(InvalidRequest):
    code = "file_too_large"
    message = "That file is larger than allowed."


# What handing out an upload form may answer (for the routes' declared errors).
UPLOAD_ERRORS: tuple[type[AppError], ...] = (StorageNotConfigured, StorageUnavailable, UnsupportedFileType,
                                             FileTooLarge)


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    url: str
    fields: dict[str, str]
    key: str
    expires_in: int
    max_bytes: int


def require(settings: Settings) -> None:
    """:class:`StorageNotConfigured` unless the S3 settings are there."""
    if not settings.storage_configured:
        raise StorageNotConfigured()


def check_size(size: int | None, limit: int) -> None:
    """Refuse a declared size over ``limit`` early (the store enforces it anyway)."""
    if size is not None and size > limit:
        raise FileTooLarge(f"The file is {size} bytes; at most {limit} are accepted.",
                           details={"max_bytes": limit, "size": size})


@asynccontextmanager
async def s3_client(settings: Settings, *, public: bool = False) -> AsyncIterator[Any]:
    """An aioboto3 S3 client for the configured store (path-style addressing, SigV4). ``public``:
    addressed as browsers reach the store (``S3_PUBLIC_ENDPOINT_URL``), for presigning; a
    signature covers the host, so a URL signed for an internal name would not work outside."""
    require(settings)
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
            log.warning("S3 call failed: %s: %s", type(exc).__name__, exc)
            raise StorageUnavailable() from exc


async def presign_upload(settings: Settings, key: str, content_type: str, max_bytes: int) -> PresignedUpload:
    """A presigned POST for exactly ``key``, ``content_type`` and at most ``max_bytes``."""
    async with s3_client(settings, public=True) as s3:
        post = await s3.generate_presigned_post(
            settings.s3_bucket, key, Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=settings.s3_presign_ttl_seconds)
    return PresignedUpload(url=post["url"], fields=dict(post["fields"]), key=key,
                           expires_in=settings.s3_presign_ttl_seconds, max_bytes=max_bytes)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    last_modified: datetime


async def head(settings: Settings, key: str) -> ObjectInfo | None:
    """The stored object's size and time; None when there is no such object."""
    async with s3_client(settings) as s3:
        try:
            found = await s3.head_object(Bucket=settings.s3_bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
    return ObjectInfo(size=int(found["ContentLength"]), last_modified=found["LastModified"])


async def delete(settings: Settings, keys: list[str]) -> None:
    """Delete ``keys`` (a missing one is no error: deleting is idempotent)."""
    async with s3_client(settings) as s3:
        for start in range(0, len(keys), 1000):
            result = await s3.delete_objects(Bucket=settings.s3_bucket, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
            if result.get("Errors"):
                raise StorageUnavailable(details={"reason": str(result["Errors"][:3])[:200]})


async def attachment_url(settings: Settings, key: str, name: str) -> str:
    """A short-lived GET URL of ``key`` that saves it as ``name``."""
    async with s3_client(settings, public=True) as signer:
        url: str = await signer.generate_presigned_url("get_object", Params={
            "Bucket": settings.s3_bucket, "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{name}"'},
            ExpiresIn=settings.s3_presign_ttl_seconds)
    return url


async def download_url(settings: Settings, key: str) -> str:
    """A short-lived (``S3_PRESIGN_TTL_SECONDS``) GET URL of ``key``."""
    async with s3_client(settings, public=True) as s3:
        url: str = await s3.generate_presigned_url("get_object", Params={"Bucket": settings.s3_bucket, "Key": key},
                                                   ExpiresIn=settings.s3_presign_ttl_seconds)
    return url
