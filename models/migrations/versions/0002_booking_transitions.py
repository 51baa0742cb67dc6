"""Booking state machine enforced by the database as well as the service.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Mirrors models.booking.TRANSITIONS. expired -> confirmed is the late-payment re-claim
# (a payment that lands after the hold lapsed, while the time is still free).
ALLOWED = [
    ("held", "confirmed"), ("held", "expired"), ("held", "released"),
    ("confirmed", "completed"), ("confirmed", "cancelled"),
    ("expired", "confirmed"),
]


def upgrade() -> None:
    pairs = " OR ".join(f"(OLD.status = '{a}' AND NEW.status = '{b}')" for a, b in ALLOWED)
    op.execute(f"""
        CREATE FUNCTION bookings_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status IS DISTINCT FROM OLD.status AND NOT ({pairs}) THEN
                RAISE EXCEPTION 'illegal booking transition % -> %', OLD.status, NEW.status
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_bookings_transition';
            END IF;
            RETURN NEW;
        END $$;
    """)
    op.execute("CREATE TRIGGER trg_bookings_transition BEFORE UPDATE OF status ON bookings "
               "FOR EACH ROW EXECUTE FUNCTION bookings_check_transition()")


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_bookings_transition ON bookings")
    op.execute("DROP FUNCTION bookings_check_transition()")
