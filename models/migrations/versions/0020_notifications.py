"""Stored notifications: ``notifications``, ``outbox.notification_id`` and the trigger that
stores every personal live event of a listed kind in the statement that records it.

Revision ID: 0020_notifications
Revises: 0019_lesson_series
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020_notifications"
down_revision = "0019_lesson_series"
branch_labels = None
depends_on = None

# models.notification.NotificationKind as of this migration (a later change of the list
# redefines the trigger in its own migration; tests/server/notifications checks they agree).
KINDS = ("booking.new", "booking.updated", "hold.expiring", "session.starting", "waitlist.offer",
         "message.new", "review.new", "payout.updated")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_user_seq", "notifications", ["user_id", "seq"])
    op.create_index("ix_notifications_user_unread", "notifications", ["user_id"],
                    postgresql_where=sa.text("read_at IS NULL"))
    op.add_column("outbox", sa.Column("notification_id", postgresql.UUID(as_uuid=True), nullable=True))
    # A BEFORE trigger sees the column defaults (created_at) already filled in. A recipient
    # who no longer exists gets no notification rather than failing the change.
    op.execute("""
        CREATE FUNCTION outbox_store_notification() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.notification_id := gen_random_uuid();
            INSERT INTO notifications (id, user_id, kind, data, created_at)
            SELECT NEW.notification_id, u.id, NEW.event, NEW.payload, NEW.created_at
            FROM users u WHERE u.id = CAST(substr(NEW.room, 6) AS uuid);
            IF NOT FOUND THEN
                NEW.notification_id := NULL;
            END IF;
            RETURN NEW;
        END $$
    """)
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    op.execute(f"CREATE TRIGGER outbox_store_notification BEFORE INSERT ON outbox FOR EACH ROW "
               f"WHEN (NEW.room LIKE 'user:%' AND NEW.event IN ({kinds})) "
               f"EXECUTE FUNCTION outbox_store_notification()")


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_store_notification ON outbox")
    op.execute("DROP FUNCTION outbox_store_notification()")
    op.drop_column("outbox", "notification_id")
    op.drop_index("ix_notifications_user_unread", table_name="notifications")
    op.drop_index("ix_notifications_user_seq", table_name="notifications")
    op.drop_table("notifications")
