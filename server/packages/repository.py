"""Packages' SQL: the offer, purchases, and the conditional updates that move credits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text

from models.package import CreditMove, LessonPackage, PackagePurchase, PurchaseStatus, spendable_sql
from server.db import Session


async def tutor_terms(session: Session, tutor_id: uuid.UUID) -> Row[Any] | None:
    """The tutor's currency and lesson lengths (None without a profile)."""
    return (await session.execute(text("SELECT currency, lesson_minutes, is_active FROM tutor_profiles "
                                       "WHERE user_id = :t"), {"t": tutor_id})).first()


async def lock_tutor_packages(session: Session, tutor_id: uuid.UUID) -> None:
    """Serialize replacements of one tutor's offer (the profile row is the lock)."""
    await session.execute(text("SELECT 1 FROM tutor_profiles WHERE user_id = :t FOR UPDATE"), {"t": tutor_id})


async def active_packages(session: Session, tutor_id: uuid.UUID) -> list[LessonPackage]:
    return list((await session.scalars(
        select(LessonPackage).where(LessonPackage.tutor_id == tutor_id, LessonPackage.active)
        .order_by(LessonPackage.minutes, LessonPackage.lessons, LessonPackage.price_cents))).all())


async def deactivate(session: Session, tutor_id: uuid.UUID, package_ids: Sequence[uuid.UUID]) -> int:
    if not package_ids:
        return 0
    result = await session.execute(
        text("UPDATE lesson_packages SET active = false, updated_at = now() "
             "WHERE tutor_id = :t AND active AND id = ANY(:ids) RETURNING 1"), {"t": tutor_id, "ids": list(package_ids)})
    return len(result.all())


async def get_package(session: Session, package_id: uuid.UUID) -> LessonPackage | None:
    return await session.get(LessonPackage, package_id)


def add(session: Session, row: LessonPackage | PackagePurchase) -> None:
    session.add(row)


async def flush(session: Session) -> None:
    await session.flush()


async def get_purchase(session: Session, purchase_id: uuid.UUID, *, lock: bool = False) -> PackagePurchase | None:
    query = select(PackagePurchase).where(PackagePurchase.id == purchase_id).execution_options(populate_existing=True)
    if lock:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def purchase_for_intent(session: Session, purchase_id: str | None, intent_id: str | None) -> uuid.UUID | None:
    """The purchase a PaymentIntent pays for: by its metadata's purchase id, else by intent id."""
    if purchase_id:
        try:
            pid = uuid.UUID(purchase_id)
        except ValueError:
            return None
        return (await session.execute(text("SELECT id FROM package_purchases WHERE id = :p"), {"p": pid})).scalar()
    if intent_id:
        return (await session.execute(text("SELECT id FROM package_purchases WHERE payment_intent_id = :i"),
                                      {"i": intent_id})).scalar()
    return None


async def grant(session: Session, purchase_id: uuid.UUID, provider: str, intent_id: str | None, now: datetime,
                months: int) -> PackagePurchase | None:
    """Mark the purchase paid and grant its credits, once: the conditional UPDATE matches only
    a purchase not paid yet, so a replayed or concurrent delivery finds nothing to do (None)."""
    row = (await session.execute(
        text("UPDATE package_purchases SET status = :paid, remaining = lessons, paid_at = :now, "
             "expires_at = CAST(:now AS timestamptz) + make_interval(months => CAST(:months AS int)), "
             "payment_provider = :provider, payment_intent_id = coalesce(payment_intent_id, :intent), "
             "updated_at = now() WHERE id = :p AND status <> :paid RETURNING id"),
        {"paid": PurchaseStatus.PAID, "now": now, "months": months, "provider": provider, "intent": intent_id,
         "p": purchase_id})).scalar()
    return await get_purchase(session, row) if row else None


async def mark_failed(session: Session, purchase_id: uuid.UUID) -> bool:
    result = await session.execute(
        text("UPDATE package_purchases SET status = :failed, updated_at = now() "
             "WHERE id = :p AND status = :pending RETURNING 1"),
        {"failed": PurchaseStatus.FAILED, "pending": PurchaseStatus.PENDING, "p": purchase_id})
    return result.first() is not None


async def spend_candidates(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID, minutes: int,
                           now: datetime) -> list[uuid.UUID]:
    """The student's purchases with a credit for this tutor and length, soonest to expire first."""
    rows = await session.execute(
        text(f"SELECT p.id FROM package_purchases p WHERE p.student_id = :s AND p.tutor_id = :t "
             f"AND p.minutes = :m AND {spendable_sql()} ORDER BY p.expires_at, p.id LIMIT 20"),
        {"s": student_id, "t": tutor_id, "m": minutes, "now": now})
    return [r.id for r in rows]


async def take_credit(session: Session, purchase_id: uuid.UUID, now: datetime) -> bool:
    """Take one credit from the purchase if it still has one. The condition is re-checked on
    the row after any concurrent spend commits (PostgreSQL re-evaluates an UPDATE's WHERE on
    the newest row version), and ``remaining >= 0`` is a check constraint besides."""
    result = await session.execute(
        text(f"UPDATE package_purchases p SET remaining = p.remaining - 1, updated_at = now() "
             f"WHERE p.id = :p AND {spendable_sql()} RETURNING 1"), {"p": purchase_id, "now": now})
    return result.first() is not None


async def record_spend(session: Session, purchase_id: uuid.UUID, booking_id: uuid.UUID) -> None:
    """The spend's movement row (``uq_credit_movements_booking_kind``: one per booking)."""
    await session.execute(text("INSERT INTO credit_movements (purchase_id, booking_id, kind) VALUES (:p, :b, :k)"),
                          {"p": purchase_id, "b": booking_id, "k": CreditMove.SPEND})


async def give_back(session: Session, purchase_id: uuid.UUID, booking_id: uuid.UUID) -> bool:
    """Return the credit the booking spent, once: the ``return`` movement is inserted only when
    the booking has a ``spend`` from that purchase and no ``return`` yet, and the balance moves
    only with it (and never past ``lessons``: a check constraint)."""
    result = await session.execute(
        text("WITH m AS (INSERT INTO credit_movements (purchase_id, booking_id, kind) "
             "  SELECT :p, :b, :ret WHERE EXISTS (SELECT 1 FROM credit_movements "
             "    WHERE booking_id = :b AND purchase_id = :p AND kind = :spend) "
             "  ON CONFLICT (booking_id, kind) DO NOTHING RETURNING purchase_id) "
             "UPDATE package_purchases p SET remaining = p.remaining + 1, updated_at = now() "
             "FROM m WHERE p.id = m.purchase_id RETURNING 1"),
        {"p": purchase_id, "b": booking_id, "ret": CreditMove.RETURN, "spend": CreditMove.SPEND})
    return result.first() is not None


async def credits(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID | None, now: datetime) -> list[Row[Any]]:
    """The student's unexpired credits (purchases with some left), soonest to expire first."""
    where = "AND p.tutor_id = :t" if tutor_id else ""
    rows = await session.execute(
        text(f"SELECT p.id, p.tutor_id, u.name AS tutor_name, p.minutes, p.lessons, p.remaining, p.expires_at "
             f"FROM package_purchases p JOIN users u ON u.id = p.tutor_id "
             f"WHERE p.student_id = :s {where} AND {spendable_sql()} ORDER BY p.expires_at, p.id LIMIT 500"),
        {"s": student_id, "t": tutor_id, "now": now})
    return list(rows.all())


async def claim_reminders(session: Session, now: datetime, until: datetime, batch: int) -> list[Row[Any]]:
    """Purchases whose unused credits expire by ``until`` and whose student was not reminded:
    marked reminded in the same statement (each is reminded once)."""
    rows = await session.execute(
        text(f"UPDATE package_purchases SET reminded_at = :now WHERE id IN ("
             f" SELECT p.id FROM package_purchases p WHERE {spendable_sql()} AND p.reminded_at IS NULL "
             f" AND p.expires_at <= :until ORDER BY p.expires_at LIMIT :batch FOR UPDATE SKIP LOCKED) "
             f"RETURNING id, student_id, tutor_id, minutes, remaining, expires_at"),
        {"now": now, "until": until, "batch": batch})
    return list(rows.all())
