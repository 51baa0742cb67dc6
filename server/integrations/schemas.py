"""Edge schemas for the integration endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ConfigOut(BaseModel):
    """What the frontend needs to know about this deployment."""

    stripe_publishable_key: str | None = Field(None, description="Stripe.js key; absent with the test provider.")
    google_sign_in: bool = Field(description="`GET /auth/google/login` works.")
    google_calendar: bool = Field(description="Users can connect a Google Calendar.")
    video_meetings: bool = Field(description="Confirmed lessons get a Zoom meeting.")
    email: bool = Field(description="Transactional e-mail is sent.")
    uploads: bool = Field(description="Avatars and lesson materials can be uploaded.")


class GoogleLoginQuery(BaseModel):
    role: Literal["student", "tutor"] = Field("student",
                                              description="Role of a new account (ignored for existing ones).")
    next: str = Field("/", max_length=500, description="Frontend path to return to afterwards.")


class NextQuery(BaseModel):
    next: str = Field("/", max_length=500, description="Frontend path to return to afterwards.")


class CalendarStatusOut(BaseModel):
    available: bool = Field(description="Google Calendar is configured on this server.")
    connected: bool
    status: Literal["active", "revoked"] | None = None
    account_email: str | None = None
    last_synced_at: datetime | None = None
    last_error: str | None = None


class IntegrationsOut(BaseModel):
    google_calendar: CalendarStatusOut


class BusyRangeOut(BaseModel):
    start: datetime
    end: datetime


class CalendarSyncOut(BaseModel):
    outcome: Literal["changed", "unchanged", "not_connected", "revoked", "not_a_tutor", "not_configured"]
    busy: list[BusyRangeOut]
    last_synced_at: datetime | None = None


class AvatarUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(max_length=100, description="image/jpeg, image/png or image/webp.")
    size: int | None = Field(None, ge=1, description="Bytes, when known (checked early; the store enforces it).")


class MaterialUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(max_length=100)
    size: int | None = Field(None, ge=1)


class UploadOut(BaseModel):
    """POST ``fields`` plus the file (last, as ``file``) as multipart/form-data to ``url``."""

    url: str
    fields: dict[str, str]
    key: str
    expires_in: int = Field(description="Seconds the form stays valid.")
    max_bytes: int


class AvatarIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=300, description="The `key` of a finished avatar upload.")


class AvatarOut(BaseModel):
    key: str
    url: str = Field(description="Public avatar URL (`GET /tutors/{tutor_id}/avatar`).")


class MaterialOut(BaseModel):
    key: str
    name: str
    size: int
    uploaded_at: datetime
    download_url: str = Field(description="Short-lived (S3_PRESIGN_TTL_SECONDS) download link.")


class MaterialsOut(BaseModel):
    booking_id: uuid.UUID
    items: list[MaterialOut]
