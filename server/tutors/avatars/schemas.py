"""Edge schemas of tutor avatars."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.base import INT8_MAX


class AvatarUploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(max_length=100, description="image/jpeg, image/png or image/webp.")
    size: int | None = Field(None, ge=1, le=INT8_MAX,
                             description="Bytes, when known (checked early; the store enforces it).")


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
