"""Tutor payouts: a tutor's Stripe Connect (Express) account, and one earnings line per paid
booking (what was charged, the platform's fee, what reached the tutor and when)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, updated_at


class PayoutState(enum.StrEnum):
    """Where a tutor's connected account is (``not_started``: there is none yet)."""

    NOT_STARTED = "not_started"
    PENDING = "pending"  # created, onboarding not finished or under review
    ACTIVE = "active"  # charges and payouts enabled: destination charges go to it
    RESTRICTED = "restricted"  # Stripe disabled it (requirements due, rejected)


class TransferState(enum.StrEnum):
    """Where the tutor's share of a booking is."""

    DESTINATION = "destination"  # paid as a destination charge: it went to the tutor with the payment
    DUE = "due"  # on the platform's balance, owed to the tutor once their account is active
    IN_FLIGHT = "in_flight"  # a Transfer is being created (the amount is fixed in transfer_cents)
    DONE = "done"  # transferred by a separate Transfer
    NONE = "none"  # nothing to transfer (refunded before it went)


class EarningStatus(enum.StrEnum):
    """An earnings line as the tutor sees it (derived: see server/payouts/repository.py)."""

    PENDING = "pending"
    AVAILABLE = "available"
    PAID = "paid"
    REVERSED = "reversed"


def _sql_list(values: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class PayoutAccount(Base):
    __tablename__ = "payout_accounts"
    __table_args__ = (
        CheckConstraint(f"state IN ({_sql_list(PayoutState)})", name="state_valid"),
    )

    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                primary_key=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    state: Mapped[PayoutState] = mapped_column(String(16), nullable=False)
    charges_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    # ``created`` of the newest account.updated applied: an older event arriving late is ignored.
    stripe_event_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Earning(Base):
    """A paid booking's money, from the tutor's side. ``net`` = gross − fee; a refund takes
    ``refunded_cents`` back from the student, ``reversed_cents`` of it from the tutor's share."""

    __tablename__ = "tutor_earnings"
    __table_args__ = (
        CheckConstraint(f"transfer_state IN ({_sql_list(TransferState)})", name="transfer_state_valid"),
        CheckConstraint("fee_cents >= 0 AND fee_cents <= gross_cents", name="fee_within_gross"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= gross_cents", name="refund_within_gross"),
        CheckConstraint("reversed_cents >= 0 AND reversed_cents <= gross_cents - fee_cents", name="reversal_within_net"),
        Index("ix_tutor_earnings_tutor", "tutor_id", "created_at"),
        Index("ix_tutor_earnings_due", "tutor_id", postgresql_where="transfer_state IN ('due', 'in_flight')"),
    )

    booking_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("bookings.id", ondelete="CASCADE"),
                                                  primary_key=True)
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    gross_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    fee_cents: Mapped[int] = mapped_column(Integer, nullable=False)
    refunded_cents: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    reversed_cents: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    transfer_state: Mapped[TransferState] = mapped_column(String(16), nullable=False)
    stripe_account_id: Mapped[str | None] = mapped_column(String(255))
    transfer_id: Mapped[str | None] = mapped_column(String(255))
    transfer_cents: Mapped[int | None] = mapped_column(Integer)
    payout_id: Mapped[str | None] = mapped_column(String(255), index=True)
    paid_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.fee_cents - self.reversed_cents
