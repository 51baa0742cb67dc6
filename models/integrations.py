"""Third-party integrations: OAuth connections (tokens encrypted at rest), calendar busy
time, the calendar events and video meetings that mirror bookings, and dispatch markers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import TSTZRANGE, UUID, Range
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk
from models.booking import Booking, BookingEvent, BookingStatus, PaymentStatus
from models.user import User


class ConnectionStatus(StrEnum):
    """Whether an OAuth grant can be used; a revoked one keeps its row to say why it stopped."""

    ACTIVE = "active"
    REVOKED = "revoked"


class OAuthProvider(StrEnum):
    """Whose grant an :class:`OAuthConnection` holds."""

    GOOGLE_CALENDAR = "google_calendar"


class MeetingProvider(StrEnum):
    """Who hosts a :class:`VideoMeeting`."""

    ZOOM = "zoom"


class CalendarSyncOutcome(StrEnum):
    """What pulling a tutor's busy time did (the task's result and the sync endpoint's `outcome`)."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    NOT_CONNECTED = "not_connected"
    REVOKED = "revoked"
    NOT_A_TUTOR = "not_a_tutor"
    NOT_CONFIGURED = "not_configured"


class DispatchedEventKind(StrEnum):
    """The ``booking_events.kind`` s the integration sweep turns into tasks (server/dispatch)."""

    CONFIRMED = "confirmed"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    HOLD_EXPIRING = "hold_expiring"
    COMPLETED = "completed"  # the review request to the student


class DispatchKind(StrEnum):
    """What an :class:`IntegrationDispatch` marker claims: its key is ``<kind>:<id>…``."""

    BOOKING_EVENT = "booking_event"
    REMINDER = "reminder"
    WELCOME = "welcome"
    REFUND = "refund"


# Booking statuses after which a lesson's calendar events and meeting are removed and its
# materials closed (the booking's end states other than ``completed``).
ENDED_BOOKING_STATUSES = (BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.RELEASED)


class OAuthConnection(Base):
    """A user's grant to a provider (Google Calendar). Tokens are Fernet ciphertexts
    (server/providers/crypto.py); a revoked grant keeps the row, without tokens, so the
    user can be told why the connection stopped."""

    __tablename__ = "oauth_connections"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s.value) for s in ConnectionStatus)})", name="status_valid"),
        CheckConstraint(f"status <> '{ConnectionStatus.ACTIVE}' OR refresh_token_enc IS NOT NULL",
                        name="active_has_token"),
        Index("uq_oauth_connections_user_provider", "user_id", "provider", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                               nullable=False)
    provider: Mapped[OAuthProvider] = mapped_column(String(32), nullable=False)
    status: Mapped[ConnectionStatus] = mapped_column(String(16), nullable=False, default=ConnectionStatus.ACTIVE)
    account_email: Mapped[str | None] = mapped_column(String(320))
    calendar_id: Mapped[str] = mapped_column(String(255), nullable=False, default="primary")
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class CalendarBusy(Base):
    """Busy time pulled from a user's calendar (freeBusy). A tutor's busy time blocks slots
    like a confirmed booking (server/calendar/repository.py::BUSY_SQL, read by the slot code)."""

    __tablename__ = "calendar_busy"
    __table_args__ = (
        CheckConstraint("NOT isempty(during)", name="not_empty"),
        Index("ix_calendar_busy_user_during", "user_id", "during", postgresql_using="gist"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                               nullable=False)
    during: Mapped[Range[datetime]] = mapped_column(TSTZRANGE, nullable=False)
    fetched_at: Mapped[datetime] = created_at()


class CalendarEvent(Base):
    """The event that mirrors a booking in one party's calendar."""

    __tablename__ = "calendar_events"

    booking_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"),
                                                  primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                               primary_key=True)
    calendar_id: Mapped[str] = mapped_column(String(255), nullable=False)
    event_id: Mapped[str] = mapped_column(String(1024), nullable=False)
    # Hash of what was last written (times, title, description): a change means a PATCH.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class VideoMeeting(Base):
    """The video meeting of a booking (Zoom); its join link is copied to ``bookings.join_url``."""

    __tablename__ = "video_meetings"

    booking_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"),
                                                  primary_key=True)
    provider: Mapped[MeetingProvider] = mapped_column(String(16), nullable=False)
    meeting_id: Mapped[str] = mapped_column(String(64), nullable=False)
    join_url: Mapped[str] = mapped_column(Text, nullable=False)
    start_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class IntegrationDispatch(Base):
    """A marker: the change named by ``key`` (``booking_event:<id>``, ``welcome:<user>``,
    ``reminder:<booking>:<start>``, ``refund:<booking>``) has had its tasks kicked."""

    __tablename__ = "integration_dispatches"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = created_at()


# Indexes on other aggregates' tables that only the integration sweeps need (migration 0003).
SWEPT_EVENT_KINDS_SQL = ", ".join(f"'{k}'" for k in DispatchedEventKind)
Index("ix_booking_events_integration_sweep", BookingEvent.created_at,
      postgresql_where=text(f"kind IN ({SWEPT_EVENT_KINDS_SQL})"))
Index("ix_users_created_at", User.created_at)
Index("ix_bookings_refunded", Booking.updated_at, postgresql_where=text(f"payment_status = '{PaymentStatus.REFUNDED}'"))
