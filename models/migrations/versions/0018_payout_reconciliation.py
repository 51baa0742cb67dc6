"""Payouts reconciled through Stripe's balance transactions: ``tutor_payouts`` (one row per
payout of a connected balance), ``payout_items`` (the balance transactions each covered, with
the booking they came from), and the connected account's settlement currency.

Revision ID: 0018_payout_reconciliation
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018_payout_reconciliation"
down_revision = "0017_lesson_packages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payout_accounts", sa.Column("default_currency", sa.String(length=3), nullable=True))
    op.create_table(
        "tutor_payouts",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('paid', 'failed')", name=op.f("ck_tutor_payouts_status_valid")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_tutor_payouts_amount_positive")),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_tutor_payouts_tutor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tutor_payouts")),
    )
    op.create_index(op.f("ix_tutor_payouts_tutor_id"), "tutor_payouts", ["tutor_id"], unique=False)
    op.create_index("ix_tutor_payouts_unreconciled", "tutor_payouts", ["created_at"], unique=False,
                    postgresql_where="reconciled_at IS NULL")
    op.create_table(
        "payout_items",
        sa.Column("payout_id", sa.String(length=255), nullable=False),
        sa.Column("balance_transaction_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("transfer_id", sa.String(length=255), nullable=True),
        sa.Column("source_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["payout_id"], ["tutor_payouts.id"], name=op.f("fk_payout_items_payout_id_tutor_payouts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("payout_id", "balance_transaction_id", name=op.f("pk_payout_items")),
    )
    op.create_index(op.f("ix_payout_items_booking_id"), "payout_items", ["booking_id"], unique=False)


def downgrade() -> None:
    op.drop_table("payout_items")
    op.drop_table("tutor_payouts")
    op.drop_column("payout_accounts", "default_currency")
