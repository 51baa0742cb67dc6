"""Tutor payouts: a tutor's Stripe Connect (Express) account, one earnings line per paid
booking (what was charged, the platform's fee, what reached the tutor and when), and the
payouts Stripe made from the account with the balance transactions each one covered."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    or_,
)
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


class PayoutStatus(enum.StrEnum):
    """What Stripe last said of a payout of a connected balance (``failed`` is final)."""

    PAID = "paid"
    FAILED = "failed"


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
    # The currency Stripe settles the account in (``default_currency``): a lesson in another
    # currency is never sent to it (Stripe would convert it; see docs/payments.md).
    default_currency: Mapped[str | None] = mapped_column(String(3))
    # ``created`` of the newest account.updated applied: an older event arriving late is ignored.
    stripe_event_at: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

    def receives(self, currency: str) -> bool:
        """Whether a share in ``currency`` may go to this account as it is: only in the currency
        Stripe settles it in (unknown until Stripe reports it: then as charged)."""
        return self.default_currency is None or self.default_currency == currency.upper()

    @classmethod
    def receives_sql(cls, currency: Any) -> ColumnElement[bool]:
        """:meth:`receives` as a query condition."""
        return or_(cls.default_currency.is_(None), cls.default_currency == currency)


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


class Payout(Base):
    """A payout of a tutor's connected balance to their bank (``payout.paid`` / ``payout.failed``).
    ``reconciled_at`` is set once the balance transactions it covered were fetched from Stripe
    and its earnings lines marked (task ``payouts.reconcile_payout``)."""

    __tablename__ = "tutor_payouts"
    __table_args__ = (
        CheckConstraint(f"status IN ({_sql_list(PayoutStatus)})", name="status_valid"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_tutor_payouts_unreconciled", "created_at", postgresql_where="reconciled_at IS NULL"),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe's po_ id
    tutor_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id"), nullable=False,
                                                index=True)
    stripe_account_id: Mapped[str] = mapped_column(String(255), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[PayoutStatus] = mapped_column(String(16), nullable=False)
    reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class PayoutItem(Base):
    """One balance transaction a payout covered, as Stripe listed it, with the booking it came
    from when it is one of ours (the Transfer's ``transfer_group``). Kept even when the
    booking's payment is not recorded yet: the line is marked paid when it is. A payout that
    carries a failed payout's money back (a ``payout_failure`` transaction) pays that payout's
    bookings."""

    __tablename__ = "payout_items"

    payout_id: Mapped[str] = mapped_column(String(255), ForeignKey("tutor_payouts.id", ondelete="CASCADE"),
                                           primary_key=True)
    balance_transaction_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    transfer_id: Mapped[str | None] = mapped_column(String(255))
    # The object behind it (``po_`` of a failed payout whose money a ``payout_failure`` brings back).
    source_id: Mapped[str | None] = mapped_column(String(255))
