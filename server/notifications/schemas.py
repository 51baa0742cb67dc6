"""Edge schemas for notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from models.notification import Notification, NotificationKind

MAX_IDS = 200


class NotificationOut(BaseModel):
    """A personal live event, as stored for its recipient."""

    id: uuid.UUID
    kind: NotificationKind = Field(description="The live event's name.")
    data: dict[str, Any] = Field(description="The live event's payload, exactly as it was sent.")
    created_at: datetime
    read_at: datetime | None = None

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(id=n.id, kind=NotificationKind(n.kind), data=n.data, created_at=n.created_at, read_at=n.read_at)


class NotificationPage(BaseModel):
    items: list[NotificationOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end.")
    unread_count: int = Field(description="The user's unread notifications (all of them, not only this page).")


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: bool | None = Field(default=None, description="`true`: only unread ones.")
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=100)


class MarkReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=MAX_IDS,
                                        description="These notifications (others' ids are ignored).")
    all: StrictBool | None = Field(default=None, description="`true`: every unread notification.")

    @model_validator(mode="after")
    def one_of(self) -> MarkReadIn:
        if (self.ids is None) == (self.all is not True):
            raise ValueError("give either `ids` or `all: true`")
        return self


class MarkReadOut(BaseModel):
    marked: list[uuid.UUID] = Field(description="The notifications this call marked read.")
    unread_count: int = Field(description="The user's unread notifications afterwards.")
