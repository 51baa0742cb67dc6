"""Integrations: OAuth connections, calendar busy time and mirrored events, video meetings,
dispatch markers, and the indexes the integration sweeps read.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_connections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("account_email", sa.String(length=320), nullable=True),
        sa.Column("calendar_id", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('active', 'revoked')", name=op.f("ck_oauth_connections_status_valid")),
        sa.CheckConstraint("status <> 'active' OR refresh_token_enc IS NOT NULL",
                           name=op.f("ck_oauth_connections_active_has_token")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_oauth_connections_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_connections")),
    )
    op.create_index("uq_oauth_connections_user_provider", "oauth_connections", ["user_id", "provider"], unique=True)

    op.create_table(
        "calendar_busy",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("NOT isempty(during)", name=op.f("ck_calendar_busy_not_empty")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_calendar_busy_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_busy")),
    )
    # GiST over (uuid, range) needs btree_gist, created by 0001.
    op.create_index("ix_calendar_busy_user_during", "calendar_busy", ["user_id", "during"], postgresql_using="gist")

    op.create_table(
        "calendar_events",
        sa.Column("booking_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("calendar_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_calendar_events_booking_id_bookings"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_calendar_events_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id", "user_id", name=op.f("pk_calendar_events")),
    )

    op.create_table(
        "video_meetings",
        sa.Column("booking_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("meeting_id", sa.String(length=64), nullable=False),
        sa.Column("join_url", sa.Text(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_video_meetings_booking_id_bookings"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_video_meetings")),
    )

    op.create_table(
        "integration_dispatches",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_integration_dispatches")),
    )

    op.create_index("ix_booking_events_integration_sweep", "booking_events", ["created_at"],
                    postgresql_where=sa.text("kind IN ('confirmed', 'rescheduled', 'cancelled', 'hold_expiring')"))
    op.create_index("ix_users_created_at", "users", ["created_at"])
    op.create_index("ix_bookings_refunded", "bookings", ["updated_at"],
                    postgresql_where=sa.text("payment_status = 'refunded'"))


def downgrade() -> None:
    op.drop_index("ix_bookings_refunded", table_name="bookings")
    op.drop_index("ix_users_created_at", table_name="users")
    op.drop_index("ix_booking_events_integration_sweep", table_name="booking_events")
    op.drop_table("integration_dispatches")
    op.drop_table("video_meetings")
    op.drop_table("calendar_events")
    op.drop_index("ix_calendar_busy_user_during", table_name="calendar_busy")
    op.drop_table("calendar_busy")
    op.drop_index("uq_oauth_connections_user_provider", table_name="oauth_connections")
    op.drop_table("oauth_connections")
