"""The ``uploads`` table: every object the file store may hold (models/upload.py), and a
trigger that marks a booking's objects for deletion when the booking row is deleted.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# BEFORE DELETE: it runs before the foreign key's ON DELETE SET NULL, while the rows still
# name the booking. Whatever deletes a booking (housekeeping's purge, an admin by hand), its
# files are doomed with it; uploads.sweep removes them from the store.
DOOM_BOOKING_UPLOADS = ("""
CREATE FUNCTION uploads_doom_booking() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE uploads SET state = 'deleting', updated_at = now()
     WHERE booking_id = OLD.id AND state IN ('pending', 'stored');
    RETURN OLD;
END $$
""", """
CREATE TRIGGER bookings_doom_uploads BEFORE DELETE ON bookings
    FOR EACH ROW EXECUTE FUNCTION uploads_doom_booking()
""")


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'stored', 'deleting', 'deleted')", name=op.f("ck_uploads_state_valid")),
        sa.CheckConstraint("kind IN ('material', 'avatar')", name=op.f("ck_uploads_kind_valid")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_uploads_size_non_negative")),
        sa.CheckConstraint("state <> 'deleted' OR deleted_at IS NOT NULL", name=op.f("ck_uploads_deleted_has_time")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_uploads_owner_id_users"),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name="fk_uploads_booking_id_bookings",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
        sa.UniqueConstraint("key", name="uq_uploads_key"),
    )
    op.create_index("ix_uploads_booking_created", "uploads", ["booking_id", "created_at", "id"],
                    postgresql_where=sa.text("state IN ('pending', 'stored')"))
    op.create_index("ix_uploads_sweep", "uploads", ["state", "expires_at"],
                    postgresql_where=sa.text("state IN ('pending', 'deleting')"))
    op.create_index("ix_uploads_owner_kind", "uploads", ["owner_id", "kind"])
    for statement in DOOM_BOOKING_UPLOADS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_doom_uploads ON bookings")
    op.execute("DROP FUNCTION uploads_doom_booking()")
    op.drop_index("ix_uploads_owner_kind", table_name="uploads")
    op.drop_index("ix_uploads_sweep", table_name="uploads")
    op.drop_index("ix_uploads_booking_created", table_name="uploads")
    op.drop_table("uploads")
