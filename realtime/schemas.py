"""Edge schemas of the ``/live`` namespace: what clients send and what acks carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class WatchIn(BaseModel):
    """``watch``: start receiving ``slots.changed`` for a tutor."""

    model_config = ConfigDict(extra="forbid")

    tutor_id: uuid.UUID
    since: StrictInt | None = Field(default=None, ge=0, le=2**62,
                                    description="The last version the client applied; the ack then "
                                                "carries only the changes after it.")


class UnwatchIn(BaseModel):
    """``unwatch``: stop receiving a tutor's ``slots.changed``."""

    model_config = ConfigDict(extra="forbid")

    tutor_id: uuid.UUID


class SlotChange(BaseModel):
    """One slot's status after a change (``booked`` = gone from the listing)."""

    start: datetime
    end: datetime
    status: Literal["open", "held", "booked"]
    held_until: datetime | None = None


class WatchChanges(BaseModel):
    """The ``watch`` ack with ``since``: every slot that changed after ``since``, as of ``version``."""

    tutor_id: uuid.UUID
    version: int
    since: int
    changes: list[SlotChange]


class UnwatchOut(BaseModel):
    tutor_id: uuid.UUID
    watching: Literal[False] = False


class AuthIn(BaseModel):
    """``auth``: replace the connection's access token before it expires (same user)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096)


class AuthOut(BaseModel):
    """The ``auth`` ack: who the connection is now and until when the token is valid."""

    user_id: uuid.UUID
    expires_at: datetime
