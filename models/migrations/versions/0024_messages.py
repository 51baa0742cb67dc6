"""Messages: ``conversations`` (one per pair of users, with each side's read marker) and
``messages``; the notification trigger no longer stores the sender's own copy of ``message.new``.

Revision ID: 0024_messages
Revises: 0023_instant_declines
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024_messages"
down_revision = "0023_instant_declines"
branch_labels = None
depends_on = None

# ``message.new`` also goes to the sender's own room (their other tabs); that copy is not news
# to the sender and is not stored as a notification for them.
_STORE_NOTIFICATION = """
    CREATE OR REPLACE FUNCTION outbox_store_notification() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.event = 'message.new'
                AND NEW.payload -> 'message' ->> 'from_user_id' = substr(NEW.room, 6) THEN
            RETURN NEW;
        END IF;
        NEW.notification_id := gen_random_uuid();
        INSERT INTO notifications (id, user_id, kind, data, created_at)
        SELECT NEW.notification_id, u.id, NEW.event, NEW.payload, NEW.created_at
        FROM users u WHERE u.id = CAST(substr(NEW.room, 6) AS uuid);
        IF NOT FOUND THEN
            NEW.notification_id := NULL;
        END IF;
        RETURN NEW;
    END $$
"""

# As migration 0020_notifications defined it.
_STORE_NOTIFICATION_0020 = """
    CREATE OR REPLACE FUNCTION outbox_store_notification() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_low_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_high_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("low_read_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("high_read_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("user_low_id < user_high_id", name=op.f("ck_conversations_pair_ordered")),
        sa.ForeignKeyConstraint(["user_low_id"], ["users.id"], name=op.f("fk_conversations_user_low_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_high_id"], ["users.id"], name=op.f("fk_conversations_user_high_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("user_low_id", "user_high_id", name="uq_conversations_pair"),
    )
    op.create_index("ix_conversations_low_last", "conversations", ["user_low_id", "last_seq"])
    op.create_index("ix_conversations_high_last", "conversations", ["user_high_id", "last_seq"])
    op.create_table(
        "messages",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("conversation_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("sender_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("recipient_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 4000", name=op.f("ck_messages_body_length")),
        sa.CheckConstraint("sender_id <> recipient_id", name=op.f("ck_messages_not_to_self")),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"],
                                name=op.f("fk_messages_conversation_id_conversations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["users.id"], name=op.f("fk_messages_sender_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["recipient_id"], ["users.id"], name=op.f("fk_messages_recipient_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("seq", name=op.f("uq_messages_seq")),
    )
    op.create_index("ix_messages_conversation_seq", "messages", ["conversation_id", "seq"])
    op.create_index("ix_messages_recipient_seq", "messages", ["recipient_id", "seq"])
    op.create_index("ix_messages_not_emailed", "messages", ["sent_at"], postgresql_where=sa.text("emailed_at IS NULL"))
    op.execute(_STORE_NOTIFICATION)


def downgrade() -> None:
    op.execute(_STORE_NOTIFICATION_0020)
    op.drop_index("ix_messages_not_emailed", table_name="messages")
    op.drop_index("ix_messages_recipient_seq", table_name="messages")
    op.drop_index("ix_messages_conversation_seq", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_conversations_high_last", table_name="conversations")
    op.drop_index("ix_conversations_low_last", table_name="conversations")
    op.drop_table("conversations")
