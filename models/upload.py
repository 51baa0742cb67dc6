"""Objects in the file store: one ``uploads`` row per object that exists or may exist.

A row is written in the same transaction as the presigned form that lets a browser create
the object, so the database knows every key the store may hold. Its ``state`` says what the
store should hold: ``pending`` (a form was handed out; the object may appear until
``expires_at``), ``stored`` (seen in the store; ``size`` is its real size), ``deleting`` (it
must go: its uploader deleted it, its booking was purged, an avatar was replaced) and
``deleted`` (gone, or never uploaded). ``uploads.sweep`` (tasks/housekeeping.py) moves rows
from ``pending``/``deleting`` to ``stored``/``deleted``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk


class UploadKind(enum.StrEnum):
    MATERIAL = "material"
    AVATAR = "avatar"


class UploadState(enum.StrEnum):
    PENDING = "pending"
    STORED = "stored"
    DELETING = "deleting"
    DELETED = "deleted"


# Rows that count against quotas and may be listed: the object exists or may still appear.
HELD_STATES = (UploadState.PENDING, UploadState.STORED)


def _sql_list(values: tuple[str, ...] | type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (
        CheckConstraint(f"state IN ({_sql_list(UploadState)})", name="state_valid"),
        CheckConstraint(f"kind IN ({_sql_list(UploadKind)})", name="kind_valid"),
        CheckConstraint("size >= 0", name="size_non_negative"),
        CheckConstraint("state <> 'deleted' OR deleted_at IS NOT NULL", name="deleted_has_time"),
        # A booking's materials in listing order, and its quota sums.
        Index("ix_uploads_booking_created", "booking_id", "created_at", "id",
              postgresql_where=text(f"state IN ({_sql_list(HELD_STATES)})")),
        # What the sweep has to look at.
        Index("ix_uploads_sweep", "state", "expires_at",
              postgresql_where=text("state IN ('pending', 'deleting')")),
        Index("ix_uploads_owner_kind", "owner_id", "kind"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    key: Mapped[str] = mapped_column(String(512), nullable=False, unique=True)
    kind: Mapped[UploadKind] = mapped_column(String(16), nullable=False)
    # No cascade: a user whose objects are still recorded cannot vanish and leave them untracked.
    owner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    # Set null when the booking row is deleted; a trigger (migration 0008) first marks the
    # booking's objects ``deleting``.
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                         ForeignKey("bookings.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    # Bytes reserved while pending (the form's upper bound), the object's size once stored.
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    state: Mapped[UploadState] = mapped_column(String(16), nullable=False, default=UploadState.PENDING)
    # When the presigned form stops working.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
