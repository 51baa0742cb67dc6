"""Tutor payouts: Stripe Connect accounts, per-booking earnings, and the double-entry ledger
whose entries the database keeps balanced (a deferred constraint trigger checks, at commit,
that every entry touched sums to zero per currency and has at least two lines; lines and
entries are append-only).

Revision ID: 0014
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

# Deferred to commit: an entry's lines are inserted one statement at a time, and only the
# finished entry must balance. Raised as check_violation (23514) so callers see an IntegrityError.
BALANCED = (
    """
CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    n int;
BEGIN
    SELECT count(*) INTO n FROM ledger_lines WHERE entry_id = NEW.entry_id;
    IF n < 2 THEN
        RAISE EXCEPTION 'ledger entry % has % line(s); a transaction needs at least two', NEW.entry_id, n
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_balanced';
    END IF;
    SELECT currency, sum(amount) AS total INTO bad FROM ledger_lines
     WHERE entry_id = NEW.entry_id GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entry % does not balance: % % left over', NEW.entry_id, bad.total, bad.currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_balanced';
    END IF;
    RETURN NULL;
END $$
""",
    """
CREATE CONSTRAINT TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced()
""",
    """
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: correct an entry with a new one'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_append_only';
END $$
""",
    """
CREATE TRIGGER ledger_lines_append_only BEFORE UPDATE OR DELETE ON ledger_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
""",
    """
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
""",
)


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("stripe_id", sa.String(length=255), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('charge', 'fee', 'transfer', 'refund', 'reversal', 'payout', 'payout_failed')",
            name=op.f("ck_ledger_entries_kind_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_entries_key")),
    )
    op.create_index("ix_ledger_entries_booking", "ledger_entries", ["booking_id"], unique=False)
    op.create_index("ix_ledger_entries_tutor", "ledger_entries", ["tutor_id"], unique=False)
    op.create_table(
        "ledger_lines",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "(account IN ('tutor_stripe', 'tutor_earnings', 'tutor_bank')) = (tutor_id IS NOT NULL)",
            name=op.f("ck_ledger_lines_tutor_accounts_name_tutor"),
        ),
        sa.CheckConstraint(
            "account IN ('platform_cash', 'platform_fees', 'tutor_earnings', 'tutor_stripe', 'tutor_bank')",
            name=op.f("ck_ledger_lines_account_valid"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_ledger_lines_currency_upper")),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_lines_amount_non_zero")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ledger_entries.id"], name=op.f("fk_ledger_lines_entry_id_ledger_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_lines")),
    )
    op.create_index("ix_ledger_lines_account", "ledger_lines", ["account", "tutor_id", "currency"], unique=False)
    op.create_index(op.f("ix_ledger_lines_entry_id"), "ledger_lines", ["entry_id"], unique=False)
    op.create_table(
        "payout_accounts",
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("stripe_event_at", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "state IN ('not_started', 'pending', 'active', 'restricted')", name=op.f("ck_payout_accounts_state_valid")
        ),
        sa.ForeignKeyConstraint(
            ["tutor_id"], ["users.id"], name=op.f("fk_payout_accounts_tutor_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tutor_id", name=op.f("pk_payout_accounts")),
        sa.UniqueConstraint("stripe_account_id", name=op.f("uq_payout_accounts_stripe_account_id")),
    )
    op.create_table(
        "tutor_earnings",
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tutor_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross_cents", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("refunded_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reversed_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transfer_state", sa.String(length=16), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=True),
        sa.Column("transfer_id", sa.String(length=255), nullable=True),
        sa.Column("transfer_cents", sa.Integer(), nullable=True),
        sa.Column("payout_id", sa.String(length=255), nullable=True),
        sa.Column("paid_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "transfer_state IN ('destination', 'due', 'in_flight', 'done', 'none')",
            name=op.f("ck_tutor_earnings_transfer_state_valid"),
        ),
        sa.CheckConstraint(
            "fee_cents >= 0 AND fee_cents <= gross_cents", name=op.f("ck_tutor_earnings_fee_within_gross")
        ),
        sa.CheckConstraint(
            "refunded_cents >= 0 AND refunded_cents <= gross_cents", name=op.f("ck_tutor_earnings_refund_within_gross")
        ),
        sa.CheckConstraint(
            "reversed_cents >= 0 AND reversed_cents <= gross_cents - fee_cents",
            name=op.f("ck_tutor_earnings_reversal_within_net"),
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_tutor_earnings_booking_id_bookings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tutor_id"], ["users.id"], name=op.f("fk_tutor_earnings_tutor_id_users")),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_tutor_earnings")),
    )
    op.create_index(
        "ix_tutor_earnings_due",
        "tutor_earnings",
        ["tutor_id"],
        unique=False,
        postgresql_where="transfer_state IN ('due', 'in_flight')",
    )
    op.create_index(op.f("ix_tutor_earnings_payout_id"), "tutor_earnings", ["payout_id"], unique=False)
    op.create_index("ix_tutor_earnings_tutor", "tutor_earnings", ["tutor_id", "created_at"], unique=False)
    for statement in BALANCED:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("tutor_earnings")
    op.drop_table("payout_accounts")
    op.drop_table("ledger_lines")
    op.drop_table("ledger_entries")
    op.execute("DROP FUNCTION ledger_append_only()")
    op.execute("DROP FUNCTION ledger_entry_balanced()")
