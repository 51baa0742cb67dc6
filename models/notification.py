"""Stored notifications: every personal live event of a listed kind, kept for its recipient.

A notification is written by the database itself, in the statement that records the live
event: the ``BEFORE INSERT`` trigger on ``outbox`` (migration ``0020_notifications``) stores
a row for every outbox row whose room is ``user:<id>`` and whose event is a
:class:`NotificationKind`, and stamps its id on the outbox row, so the relay publishes the
event and ``notification.new`` from the same row. Live events and stored notifications
cannot disagree: they are one row apart in one transaction, whatever code path (the hold's
``place_hold()`` function included) wrote the event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, uuid_pk


class NotificationKind(StrEnum):
    """The personal live events that are also stored (the contract's list)."""

    BOOKING_NEW = "booking.new"
    BOOKING_UPDATED = "booking.updated"
    HOLD_EXPIRING = "hold.expiring"
    SESSION_STARTING = "session.starting"
    WAITLIST_OFFER = "waitlist.offer"
    MESSAGE_NEW = "message.new"
    REVIEW_NEW = "review.new"
    PAYOUT_UPDATED = "payout.updated"


class Notification(Base):
    """One stored personal event: ``kind`` is the event's name, ``data`` its payload."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The bell's list (newest first) and its unread count.
        Index("ix_notifications_user_seq", "user_id", "seq"),
        Index("ix_notifications_user_unread", "user_id", postgresql_where=text("read_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Insertion order: "newest first" and the list's cursor (one transaction's notifications
    # share ``created_at``; their order is the order the events were sent).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                               nullable=False)
    kind: Mapped[NotificationKind] = mapped_column(String(64), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = created_at()
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
