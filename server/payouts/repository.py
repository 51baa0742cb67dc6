"""Payouts' SQL: connected accounts, earnings lines, and the earnings list with its derived status."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text

from models.booking import PaymentStatus
from models.payout import Earning, EarningStatus, Payout, PayoutAccount, PayoutState, PayoutStatus, TransferState
from server.db import Session


async def user_email(session: Session, user_id: uuid.UUID) -> str | None:
    return (await session.execute(text("SELECT email FROM users WHERE id = :u"), {"u": user_id})).scalar()


async def get_account(session: Session, tutor_id: uuid.UUID) -> PayoutAccount | None:
    return await session.get(PayoutAccount, tutor_id)


async def account_by_stripe_id(session: Session, account_id: str) -> PayoutAccount | None:
    """The connected account, row-locked (webhooks about one account apply one at a time)."""
    return (await session.scalars(select(PayoutAccount).where(PayoutAccount.stripe_account_id == account_id)
                                  .with_for_update())).first()


async def insert_account(session: Session, tutor_id: uuid.UUID, account_id: str) -> PayoutAccount:
    """Record the tutor's account once (two concurrent onboardings get the same account from
    Stripe's idempotency key; the second insert is a no-op)."""
    await session.execute(
        text("INSERT INTO payout_accounts (tutor_id, stripe_account_id, state) VALUES (:t, :a, :s) "
             "ON CONFLICT (tutor_id) DO NOTHING"), {"t": tutor_id, "a": account_id, "s": PayoutState.PENDING})
    account = await session.get(PayoutAccount, tutor_id, populate_existing=True)
    assert account is not None
    return account


async def insert_earning(session: Session, *, booking_id: uuid.UUID, tutor_id: uuid.UUID, currency: str,
                         gross: int, fee: int, state: TransferState, account_id: str | None) -> bool:
    """The booking's earnings line, once (False when a replay finds it there)."""
    inserted = await session.execute(
        text("INSERT INTO tutor_earnings (booking_id, tutor_id, currency, gross_cents, fee_cents, transfer_state, "
             "stripe_account_id) VALUES (:b, :t, :c, :g, :f, :s, :a) ON CONFLICT (booking_id) DO NOTHING RETURNING 1"),
        {"b": booking_id, "t": tutor_id, "c": currency.upper(), "g": gross, "f": fee, "s": state, "a": account_id})
    return inserted.first() is not None


async def earning_for_update(session: Session, booking_id: uuid.UUID) -> Earning | None:
    return (await session.scalars(select(Earning).where(Earning.booking_id == booking_id).with_for_update()
                                  .execution_options(populate_existing=True))).first()


async def lock_booking_payment(session: Session, booking_id: uuid.UUID) -> tuple[PaymentStatus | None, str | None]:
    """Lock the booking's row (bookings before earnings, as the refund path does) and say
    where its payment is, with its PaymentIntent."""
    row = (await session.execute(text("SELECT payment_status, payment_intent_id FROM bookings WHERE id = :b "
                                      "FOR UPDATE"), {"b": booking_id})).first()
    return (PaymentStatus(row.payment_status) if row and row.payment_status else None,
            row.payment_intent_id if row else None)


async def due_transfers(session: Session, tutor_id: uuid.UUID | None = None, limit: int = 500) -> list[uuid.UUID]:
    """Bookings whose tutor share still waits on the platform while the tutor's account is
    active (and settles in the share's currency; a Transfer already in flight always finishes)."""
    query = (select(Earning.booking_id).join(PayoutAccount, PayoutAccount.tutor_id == Earning.tutor_id)
             .where(or_(Earning.transfer_state == TransferState.IN_FLIGHT,
                        (Earning.transfer_state == TransferState.DUE) & PayoutAccount.receives_sql(Earning.currency)),
                    PayoutAccount.state == PayoutState.ACTIVE).limit(limit))
    if tutor_id is not None:
        query = query.where(Earning.tutor_id == tutor_id)
    return list((await session.scalars(query)).all())


def _status_sql(window: timedelta) -> str:
    """An earnings line's status at ``:now`` (one definition for the list, totals and payouts)."""
    hours = int(window.total_seconds() // 3600)
    return (f"CASE WHEN e.refunded_cents > 0 AND e.refunded_cents >= e.gross_cents THEN '{EarningStatus.REVERSED}' "
            f"WHEN e.payout_id IS NOT NULL THEN '{EarningStatus.PAID}' "
            f"WHEN b.status IN ('completed', 'cancelled') AND b.end_at + interval '{hours} hours' <= :now "
            f"THEN '{EarningStatus.AVAILABLE}' ELSE '{EarningStatus.PENDING}' END")


async def earnings_page(session: Session, tutor_id: uuid.UUID, now: datetime, window: timedelta, *,
                        start: datetime | None, end: datetime | None, after: tuple[datetime, uuid.UUID] | None,
                        limit: int) -> list[dict[str, Any]]:
    """A tutor's earnings lines, newest lesson first (keyset on the lesson's start and booking id)."""
    where = ["e.tutor_id = :t"]
    params: dict[str, Any] = {"t": tutor_id, "now": now, "limit": limit}
    if start is not None:
        where.append("b.start_at >= :start")
        params["start"] = start
    if end is not None:
        where.append("b.start_at < :end")
        params["end"] = end
    if after is not None:
        where.append("(b.start_at, e.booking_id) < (:after_start, :after_id)")
        params.update(after_start=after[0], after_id=after[1])
    rows = await session.execute(text(
        "SELECT e.booking_id, b.start_at, b.end_at, e.currency, e.gross_cents, e.fee_cents, e.refunded_cents, "
        "e.reversed_cents, e.gross_cents - e.fee_cents - e.reversed_cents AS net_cents, e.transfer_state, "
        f"e.payout_id, e.paid_out_at, {_status_sql(window)} AS status "
        "FROM tutor_earnings e JOIN bookings b ON b.id = e.booking_id "
        f"WHERE {' AND '.join(where)} ORDER BY b.start_at DESC, e.booking_id DESC LIMIT :limit"), params)
    return [dict(r._mapping) for r in rows]


async def earnings_totals(session: Session, tutor_id: uuid.UUID, now: datetime,
                          window: timedelta) -> list[dict[str, Any]]:
    """Per currency: gross, fee and net of every line, and the net in each status."""
    rows = await session.execute(text(
        "SELECT currency, sum(gross_cents) AS gross_cents, sum(fee_cents) AS fee_cents, "
        "sum(refunded_cents) AS refunded_cents, sum(net) AS net_cents, "
        f"sum(net) FILTER (WHERE status = '{EarningStatus.PENDING}') AS pending_cents, "
        f"sum(net) FILTER (WHERE status = '{EarningStatus.AVAILABLE}') AS available_cents, "
        f"sum(net) FILTER (WHERE status = '{EarningStatus.PAID}') AS paid_cents "
        "FROM (SELECT e.*, e.gross_cents - e.fee_cents - e.reversed_cents AS net, "
        f"{_status_sql(window)} AS status FROM tutor_earnings e JOIN bookings b ON b.id = e.booking_id "
        "WHERE e.tutor_id = :t) x GROUP BY currency ORDER BY currency"), {"t": tutor_id, "now": now})
    return [{k: (v if k == "currency" else int(v or 0)) for k, v in r._mapping.items()} for r in rows]


# Balance transactions that bring a booking's share onto the connected account (the account's
# side of a Transfer, or of a destination charge's automatic Transfer): a payout covering one
# pays that booking's line. Reversals (``payment_refund``) only lower what a payout carries.
_COVERING = "i.amount_cents > 0 AND i.type IN ('payment', 'transfer') AND i.booking_id IS NOT NULL"
# (payout, booking) for every line a payout pays: the shares it covered, and those of a failed
# payout whose money it carries again (Stripe pays a returned payout out in a later one).
_COVERED = (f"SELECT i.payout_id, i.booking_id FROM payout_items i WHERE {_COVERING} UNION "
            "SELECT f.payout_id, i.booking_id FROM payout_items f JOIN payout_items i ON i.payout_id = f.source_id "
            f"WHERE f.type = 'payout_failure' AND {_COVERING}")


async def lock_account_shared(session: Session, tutor_id: uuid.UUID) -> None:
    """Hold the tutor's account row (shared) while a line is recorded, so a payout being
    reconciled meanwhile (which holds it exclusively) either sees the line or is seen by it."""
    await session.execute(text("SELECT 1 FROM payout_accounts WHERE tutor_id = :t FOR SHARE"), {"t": tutor_id})


async def payout_for_update(session: Session, payout_id: str) -> Payout | None:
    return (await session.scalars(select(Payout).where(Payout.id == payout_id).with_for_update()
                                  .execution_options(populate_existing=True))).first()


async def insert_payout_items(session: Session, payout_id: str, items: list[dict[str, Any]]) -> None:
    """The balance transactions a payout covered, once each (a rerun adds nothing)."""
    if not items:
        return
    await session.execute(
        text("INSERT INTO payout_items (payout_id, balance_transaction_id, type, amount_cents, booking_id, transfer_id, "
             "source_id) SELECT :p, i.id, i.type, i.amount, i.booking_id, i.transfer_id, i.source_id "
             "FROM jsonb_to_recordset(CAST(:items AS jsonb)) "
             "AS i(id text, type text, amount bigint, booking_id uuid, transfer_id text, source_id text) "
             "ON CONFLICT DO NOTHING"),
        {"p": payout_id, "items": json.dumps(items)})


async def assign_payout_lines(session: Session, payout_id: str, tutor_id: uuid.UUID, now: datetime) -> int:
    """Mark paid by ``payout_id`` exactly the tutor's lines whose share it covered."""
    rows = await session.execute(text(
        "UPDATE tutor_earnings e SET payout_id = c.payout_id, paid_out_at = :now, updated_at = now() "
        f"FROM ({_COVERED}) c WHERE c.payout_id = :p AND e.booking_id = c.booking_id "
        "AND e.tutor_id = :t AND e.payout_id IS NULL RETURNING 1"),
        {"p": payout_id, "t": tutor_id, "now": now})
    return len(rows.all())


async def assign_line_from_payouts(session: Session, booking_id: uuid.UUID) -> str | None:
    """A line recorded after the payout that covered it was reconciled (``payout.paid`` came
    before ``payment_intent.succeeded``): mark it paid by that payout now."""
    row = (await session.execute(text(
        "UPDATE tutor_earnings e SET payout_id = c.payout_id, paid_out_at = p.updated_at, updated_at = now() "
        f"FROM ({_COVERED}) c JOIN tutor_payouts p ON p.id = c.payout_id WHERE e.booking_id = :b "
        f"AND c.booking_id = e.booking_id AND p.tutor_id = e.tutor_id AND p.status = '{PayoutStatus.PAID}' "
        "AND e.payout_id IS NULL RETURNING e.payout_id"), {"b": booking_id})).first()
    return row.payout_id if row else None


async def unreconciled_payouts(session: Session, limit: int) -> list[str]:
    """Paid payouts whose balance transactions were not fetched within a minute (a lost task)."""
    rows = await session.execute(
        select(Payout.id).where(Payout.reconciled_at.is_(None), Payout.status == PayoutStatus.PAID,
                                Payout.updated_at < text("now() - interval '1 minute'")).limit(limit))
    return list(rows.scalars().all())


async def all_payouts(session: Session) -> list[Payout]:
    return list((await session.scalars(select(Payout).order_by(Payout.created_at))).all())


async def payout_lines(session: Session) -> dict[str, set[uuid.UUID]]:
    """Per payout, the bookings whose lines it marked paid."""
    rows = await session.execute(text("SELECT payout_id, booking_id FROM tutor_earnings WHERE payout_id IS NOT NULL"))
    out: dict[str, set[uuid.UUID]] = {}
    for row in rows:
        out.setdefault(row.payout_id, set()).add(row.booking_id)
    return out


async def unassign_payout(session: Session, payout_id: str) -> int:
    """A failed payout: its lines are available again."""
    rows = await session.execute(text(
        "UPDATE tutor_earnings SET payout_id = NULL, paid_out_at = NULL, updated_at = now() "
        "WHERE payout_id = :p RETURNING 1"), {"p": payout_id})
    return len(rows.all())


async def earnings_with_transfers(session: Session) -> list[Earning]:
    """Every line whose tutor share went to Stripe by a separate Transfer (for reconciliation)."""
    return list((await session.scalars(select(Earning).where(Earning.transfer_id.is_not(None)))).all())


async def all_earnings(session: Session) -> list[Earning]:
    return list((await session.scalars(select(Earning))).all())


async def payout_item_bookings(session: Session) -> dict[str, set[uuid.UUID]]:
    """Per payout, the bookings whose share its recorded balance transactions brought in (or
    carried again after a failed payout)."""
    rows = await session.execute(text(_COVERED))
    out: dict[str, set[uuid.UUID]] = {}
    for row in rows:
        out.setdefault(row.payout_id, set()).add(row.booking_id)
    return out
