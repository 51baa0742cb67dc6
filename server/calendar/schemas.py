"""Edge schemas of calendar sync."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.integrations import CalendarSyncOutcome, ConnectionStatus


class NextQuery(BaseModel):
    next: str = Field("/", max_length=500, description="Frontend path to return to afterwards.")


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
