"""The admin audit log: every admin action, who took it, on what, and why."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at


class AdminActionKind(StrEnum):
    """What an admin did (one row of :class:`AdminAction` each)."""

    USER_SUSPENDED = "user_suspended"
    USER_REINSTATED = "user_reinstated"
    BOOKING_REFUNDED = "booking_refunded"
    BOOKING_CANCELLED = "booking_cancelled"
    DEAD_LETTER_RETRIED = "dead_letter_retried"


class AuditTarget(StrEnum):
    """What kind of thing an admin action was taken on."""

    USER = "user"
    BOOKING = "booking"
    DEAD_LETTER = "dead_letter"


class AdminAction(Base):
    """Append-only: written in the same transaction as the action it records, so an action
    that rolls back leaves no row and a committed one always has its row."""

    __tablename__ = "admin_actions"
    __table_args__ = (
        CheckConstraint(f"action IN ({', '.join(repr(k.value) for k in AdminActionKind)})", name="action_valid"),
        CheckConstraint(f"target_type IN ({', '.join(repr(t.value) for t in AuditTarget)})", name="target_valid"),
        Index("ix_admin_actions_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    admin_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"),
                                                nullable=False, index=True)
    action: Mapped[AdminActionKind] = mapped_column(String(32), nullable=False)
    target_type: Mapped[AuditTarget] = mapped_column(String(16), nullable=False)
    target_id: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    created_at: Mapped[datetime] = created_at()
