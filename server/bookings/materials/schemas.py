"""Edge schemas of lesson materials (the upload form is the avatars' :class:`UploadOut`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class MaterialUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(max_length=100)
    size: int | None = Field(None, ge=1)


class MaterialOut(BaseModel):
    key: str
    name: str
    size: int
    uploaded_at: datetime
    download_url: str = Field(description="Short-lived (S3_PRESIGN_TTL_SECONDS) download link.")


class MaterialsOut(BaseModel):
    booking_id: uuid.UUID
    items: list[MaterialOut]
