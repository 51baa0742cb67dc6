"""The double-entry ledger: every money movement is a journal entry whose lines sum to zero
per currency. The database enforces it (a deferred constraint trigger, migration 0014), so a
half-written entry can never commit, whatever the Python side does."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at


class EntryKind(enum.StrEnum):
    """What moved the money."""

    CHARGE = "charge"  # a student's payment arrived on the platform's Stripe balance
    FEE = "fee"  # the platform's share of it
    TRANSFER = "transfer"  # the tutor's share moved to their connected account
    REFUND = "refund"  # money went back to the student
    REVERSAL = "reversal"  # the refunded part of a transfer came back from the tutor's account
    PAYOUT = "payout"  # Stripe paid the tutor's connected balance out to their bank
    PAYOUT_FAILED = "payout_failed"  # ... and the bank sent it back


class Account(enum.StrEnum):
    """The ledger's accounts. Debits are positive amounts, credits negative.

    ``platform_cash`` is the platform's Stripe balance; ``platform_fees`` its revenue;
    ``tutor_earnings`` what a tutor has earned (their claim, a credit balance);
    ``tutor_stripe`` the tutor's connected Stripe balance; ``tutor_bank`` what Stripe has
    paid out to the tutor's bank. The tutor accounts carry the tutor's id."""

    PLATFORM_CASH = "platform_cash"
    PLATFORM_FEES = "platform_fees"
    TUTOR_EARNINGS = "tutor_earnings"
    TUTOR_STRIPE = "tutor_stripe"
    TUTOR_BANK = "tutor_bank"


TUTOR_ACCOUNTS = frozenset({Account.TUTOR_EARNINGS, Account.TUTOR_STRIPE, Account.TUTOR_BANK})


def _sql_list(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in values)


class LedgerEntry(Base):
    """One balanced transaction. ``key`` makes it happen once (``booking:<id>:charge``,
    ``payout:<po_id>:paid``): webhook replays and task retries find it already there."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_sql_list(EntryKind)})", name="kind_valid"),
        Index("ix_ledger_entries_booking", "booking_id"),
        Index("ix_ledger_entries_tutor", "tutor_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    kind: Mapped[EntryKind] = mapped_column(String(16), nullable=False)
    booking_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    tutor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Stripe's object behind it (ch_/pi_, tr_, re_, trr_, po_), for reconciliation.
    stripe_id: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    created_at: Mapped[datetime] = created_at()


class LedgerLine(Base):
    """One leg of an entry: ``amount`` minor units of ``currency`` on ``account``."""

    __tablename__ = "ledger_lines"
    __table_args__ = (
        CheckConstraint(f"account IN ({_sql_list(Account)})", name="account_valid"),
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_upper"),
        CheckConstraint(f"(account IN ({_sql_list(TUTOR_ACCOUNTS)})) = (tutor_id IS NOT NULL)",
                        name="tutor_accounts_name_tutor"),
        Index("ix_ledger_lines_account", "account", "tutor_id", "currency"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("ledger_entries.id"), nullable=False, index=True)
    account: Mapped[Account] = mapped_column(String(32), nullable=False)
    tutor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
