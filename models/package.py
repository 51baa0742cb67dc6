"""Lesson packages (a tutor's "N lessons of M minutes for a price"), their purchases, and the
credits a paid purchase carries.

A purchase *is* the student's credit balance with that tutor for that length: ``remaining``
starts at ``lessons`` when the payment succeeds and moves by one per lesson confirmed with a
credit (and back on a cancellation within the refund policy). The database keeps it honest:
``remaining`` stays within ``0..lessons`` (so two concurrent spends of the last credit cannot
both succeed), and ``credit_movements`` holds one ``spend`` and at most one ``return`` per
booking (so neither happens twice, whatever path or retry gets there).

Credits expire ``CREDIT_EXPIRY_MONTHS`` after the payment: expiry is a query condition
(``expires_at > now``), never a job that must run on time.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at, uuid_pk

MAX_PACKAGE_LESSONS = 50
MAX_PACKAGES_PER_TUTOR = 10


class PurchaseStatus(enum.StrEnum):
    """Where a package purchase's payment is."""

    PENDING = "pending"  # checkout started, no payment yet
    PAID = "paid"  # paid: the credits are granted (once)
    FAILED = "failed"  # the last payment attempt failed (a later success still grants)


class CreditMove(enum.StrEnum):
    SPEND = "spend"  # a held booking was confirmed with a credit
    RETURN = "return"  # ... and cancelled within the refund policy: the credit came back


def _sql_list(values: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# "A purchase has a credit to spend at :now" (the one definition, for spends and listings).
def spendable_sql(alias: str = "p", now: str = ":now") -> str:
    return f"({alias}.status = 'paid' AND {alias}.remaining > 0 AND {alias}.expires_at > {now})"


class LessonPackage(Base):
    __tablename__ = "lesson_packages"
    __table_args__ = (
        CheckConstraint(f"lessons BETWEEN 2 AND {MAX_PACKAGE_LESSONS}", name="lessons_range"),
        CheckConstraint("minutes > 0", name="minutes_positive"),
        CheckConstraint("price_cents > 0", name="price_positive"),
        # The active offer is a set of distinct terms: re-saving the same terms keeps the same id.
        Index("uq_lesson_packages_active_terms", "tutor_id", "lessons", "minutes", "price_cents", unique=True,
              postgresql_where=text("active")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                nullable=False, index=True)
    lessons: Mapped[int] = mapped_column(Integer, nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # A deactivated package is no longer sold; purchases of it keep their credits.
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PackagePurchase(Base):
    __tablename__ = "package_purchases"
    __table_args__ = (
        CheckConstraint(f"status IN ({_sql_list(PurchaseStatus)})", name="status_valid"),
        CheckConstraint("remaining >= 0 AND remaining <= lessons", name="remaining_within_lessons"),
        CheckConstraint("status = 'paid' OR remaining = 0", name="credits_only_when_paid"),
        CheckConstraint("status <> 'paid' OR (paid_at IS NOT NULL AND expires_at IS NOT NULL)",
                        name="paid_has_expiry"),
        Index("ix_package_purchases_credits", "student_id", "tutor_id", "minutes", "expires_at",
              postgresql_where=text("status = 'paid' AND remaining > 0")),
        Index("ix_package_purchases_reminders", "expires_at",
              postgresql_where=text("status = 'paid' AND remaining > 0 AND reminded_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    package_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("lesson_packages.id"),
                                                  nullable=False, index=True)
    student_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                  nullable=False)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    # The package's terms at the time of purchase (the tutor may change the offer later).
    lessons: Mapped[int] = mapped_column(Integer, nullable=False)
    minutes: Mapped[int] = mapped_column(Integer, nullable=False)
    price_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[PurchaseStatus] = mapped_column(String(16), nullable=False)
    payment_provider: Mapped[str | None] = mapped_column(String(16))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class CreditMovement(Base):
    """Append-only: each credit spent on a booking, and each one given back."""

    __tablename__ = "credit_movements"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_sql_list(CreditMove)})", name="kind_valid"),
        Index("uq_credit_movements_booking_kind", "booking_id", "kind", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    purchase_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("package_purchases.id"),
                                                   nullable=False, index=True)
    booking_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"),
                                                  nullable=False)
    kind: Mapped[CreditMove] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = created_at()
