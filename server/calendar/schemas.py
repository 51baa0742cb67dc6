"""Edge schemas of calendar sync."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, Field, model_validator

from models.integrations import CalendarSyncOutcome, ConnectionStatus


class NextQuery(BaseModel):
    next: str = Field("/", max_length=500, description="Frontend path to return to afterwards.")


class CallbackQuery(BaseModel):
    """What Google appends to the connect callback: ``state`` always, then ``code`` on consent
    or ``error`` on refusal (others, such as ``scope``, are read by the OAuth client)."""

    state: str = Field(max_length=2048, description="The state sent with the connect redirect.")
    code: str | None = Field(default=None, max_length=2048, description="The authorization code (on consent).")
    error: str | None = Field(default=None, max_length=200, description="Why no code came (e.g. `access_denied`).")

    @model_validator(mode="after")
    def _code_or_error(self) -> Self:
        if self.code is None and self.error is None:
            raise ValueError("Google's redirect carries either code or error")
        return self


class CalendarStatusOut(BaseModel):
    available: bool = Field(description="Google Calendar is configured on this server.")
    connected: bool
    status: ConnectionStatus | None = None
    account_email: str | None = None
    last_synced_at: datetime | None = None
    last_error: str | None = None


class IntegrationsOut(BaseModel):
    google_calendar: CalendarStatusOut


class BusyRangeOut(BaseModel):
    start: datetime
    end: datetime


class CalendarSyncOut(BaseModel):
    outcome: CalendarSyncOutcome
    busy: list[BusyRangeOut]
    last_synced_at: datetime | None = None
