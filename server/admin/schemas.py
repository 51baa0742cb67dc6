"""Edge schemas for the admin endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.audit import AdminAction, AdminActionKind, AuditTarget
from models.booking import BookingStatus, PaymentStatus
from models.outbox import DeadLetter
from models.user import Role, User


class DeadLetterOut(BaseModel):
    id: int
    task_name: str = Field(description="The task, `domain.verb` (e.g. `payments.refund`).")
    args: dict[str, Any] = Field(description="`{args: [...], kwargs: {...}}` of the failed call.")
    last_error: str
    attempts: int = Field(description="How many times the task ran before it was given up.")
    created_at: datetime
    retried_at: datetime | None = Field(default=None, description="When an admin re-queued it (once only).")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(id=letter.id, task_name=letter.task_name, args=letter.args, last_error=letter.last_error,
                   attempts=letter.attempts, created_at=letter.created_at, retried_at=letter.retried_at)


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None = None


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retried: bool | None = Field(default=None, description="Only re-queued (true) or only waiting (false) ones.")
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class DeadLetterRetryOut(BaseModel):
    dead_letter: DeadLetterOut
    task_id: str = Field(description="The id of the re-queued task; a new failure makes a new dead letter.")


class AdminUserOut(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    email_verified: bool
    created_at: datetime
    suspended_at: datetime | None = None
    suspended_reason: str | None = None

    @classmethod
    def of(cls, user: User) -> AdminUserOut:
        return cls(id=user.id, email=user.email, name=user.name, role=user.role, email_verified=user.email_verified,
                   created_at=user.created_at, suspended_at=user.suspended_at,
                   suspended_reason=user.suspended_reason)


class AdminUserPage(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None = None


class AdminUserQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=200, description="Part of the e-mail or name (any case).")
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class SuspendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why (kept with the account, for the record).")


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="Why (recorded in the audit log).")


class AdminBookingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: BookingStatus | None = None
    payment_status: PaymentStatus | None = Field(
        default=None, description="E.g. `refund_failed`: refunds given up, which need an admin.")
    tutor_id: uuid.UUID | None = None
    student_id: uuid.UUID | None = None
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class AdminRefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                     description="Less than the price for a partial refund; default: in full.")
    reason: str = Field(min_length=1, max_length=500, description="Why (recorded in the booking's history).")


class AdminCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500,
                        description="Why (recorded in the booking's history and the audit log).")


class AuditEntryOut(BaseModel):
    id: int
    admin_id: uuid.UUID
    admin_email: str
    admin_name: str
    action: AdminActionKind
    target_type: AuditTarget
    target_id: str = Field(description="The user's or booking's id, or the dead letter's number.")
    reason: str | None = Field(default=None, description="Why, as the admin wrote it (none for a dead-letter retry).")
    details: dict[str, Any] = Field(description="What changed, e.g. `{refund_cents: 2500}`.")
    created_at: datetime

    @classmethod
    def of(cls, row: AdminAction, email: str, name: str) -> AuditEntryOut:
        return cls(id=row.id, admin_id=row.admin_id, admin_email=email, admin_name=name, action=row.action,
                   target_type=row.target_type, target_id=row.target_id, reason=row.reason,
                   details=row.details, created_at=row.created_at)


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = None


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin_id: uuid.UUID | None = None
    action: AdminActionKind | None = None
    target_id: str | None = Field(default=None, max_length=64, description="Only actions on this user, booking or dead letter.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=200)


class MinuteCount(BaseModel):
    minute: datetime
    count: int


class OverviewOut(BaseModel):
    """What is happening now. Database figures are for the whole platform; `process` figures
    are this API process's own (sum them across processes in Prometheus)."""

    generated_at: datetime
    holds_per_minute: list[MinuteCount] = Field(
        description="Holds placed in each of the last 15 minutes, oldest first (the current minute last).")
    active_holds: int = Field(description="Holds live now (placed, not yet paid, released or lapsed).")
    refunds_failed: int = Field(description="Bookings whose refund was given up (`refund_failed`).")
    dead_letters_waiting: int = Field(description="Dead letters not yet re-queued.")
    suspended_users: int
    holds_conflicted_total: int = Field(description="This process: hold attempts refused (slot taken) since it started.")
    holds_placed_total: int = Field(description="This process: holds placed since it started.")
    live_connections: int = Field(description="This process: connected Socket.IO clients (watchers) now.")
