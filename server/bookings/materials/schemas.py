"""Edge schemas of lesson materials (the upload form is the avatars' :class:`UploadOut`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from models.base import INT8_MAX


class MaterialUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(max_length=100)
    size: int | None = Field(None, ge=1, le=INT8_MAX,
                             description="Bytes. Declared, the form allows exactly up to it and only that much "
                                         "of the booking's quota is reserved.")


class MaterialsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=100)


class MaterialOut(BaseModel):
    id: uuid.UUID = Field(description="For `DELETE /bookings/{booking_id}/materials/{id}`.")
    key: str
    name: str
    size: int
    content_type: str
    uploaded_by: uuid.UUID
    uploaded_at: datetime
    download_url: str = Field(description="Short-lived (S3_PRESIGN_TTL_SECONDS) download link.")


class MaterialsOut(BaseModel):
    booking_id: uuid.UUID
    items: list[MaterialOut]
    next_cursor: str | None = None
