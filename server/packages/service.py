"""Lesson packages: the tutor's offer, buying one, granting its credits when the payment
succeeds (once), listing a student's credits and reminding them before credits expire.

Spending and returning credits is :mod:`server.packages.credits` (called by bookings).

A purchase is paid like a lesson (server/bookings/checkout.py): the labelled test provider
without Stripe keys, else a Stripe PaymentIntent (a destination charge to the tutor's active
connected account, with ``PLATFORM_FEE_BPS`` as the application fee). The credits are granted
by ``payment_intent.succeeded`` (server/payments/service.py calls :func:`settle_intent`): a
conditional UPDATE makes that happen once whatever the replays or concurrent deliveries, and
the sale's ledger entries are keyed by the purchase.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from models.booking import PaymentProvider
from models.package import LessonPackage, PackagePurchase, PurchaseStatus
from server.db import Session
from server.emails.render import EmailTemplate
from server.errors import InvalidRequest
from server.jobs import enqueue
from server.outbox import emit, user_room
from server.packages import repository
from server.packages.errors import OwnPackage, PackageNotFound, PurchaseNotFound, TestProviderDisabled
from server.packages.schemas import (
    CreditList,
    CreditOut,
    PackageList,
    PackageOut,
    PackagesIn,
    PurchaseCheckoutOut,
    PurchaseOut,
    PurchasePaymentOut,
)
from server.payouts import money
from server.providers import stripe as stripe_client
from server.settings import Settings
from server.tutors.errors import ProfileNotFound, TutorNotFound
from server.tutors.schemas import DEFAULT_MIN_CHARGE_MINOR_UNITS, MIN_CHARGE_MINOR_UNITS

log = logging.getLogger("edustream.packages")


async def replace_packages(session: Session, tutor_id: uuid.UUID, body: PackagesIn) -> PackageList:
    """The tutor's offer becomes ``body``: unchanged packages keep their id, new ones are added
    in the profile's currency, the rest stop being sold (bought credits stay valid)."""
    terms = await repository.tutor_terms(session, tutor_id)
    if terms is None:
        raise ProfileNotFound()
    minimum = MIN_CHARGE_MINOR_UNITS.get(terms.currency, DEFAULT_MIN_CHARGE_MINOR_UNITS)
    problems = []
    for i, package in enumerate(body.packages):
        if package.minutes not in terms.lesson_minutes:
            problems.append({"field": f"body.packages.{i}.minutes",
                             "message": f"must be one of your lesson lengths ({terms.lesson_minutes})"})
        if package.price_cents < minimum:
            problems.append({"field": f"body.packages.{i}.price_cents",
                             "message": f"must be at least the minimum charge of {minimum} {terms.currency} minor units"})
    if problems:
        raise InvalidRequest(details=problems)
    await repository.lock_tutor_packages(session, tutor_id)
    current = await repository.active_packages(session, tutor_id)
    wanted = {(p.lessons, p.minutes, p.price_cents) for p in body.packages}
    kept = {(p.lessons, p.minutes, p.price_cents): p for p in current
            if (p.lessons, p.minutes, p.price_cents) in wanted and p.currency == terms.currency}
    await repository.deactivate(session, tutor_id, [p.id for p in current if p not in kept.values()])
    for key in sorted(wanted - kept.keys()):
        repository.add(session, LessonPackage(id=uuid.uuid4(), tutor_id=tutor_id, lessons=key[0], minutes=key[1],
                                              price_cents=key[2], currency=terms.currency, active=True))
    await repository.flush(session)
    return PackageList(items=[PackageOut.of(p) for p in await repository.active_packages(session, tutor_id)])


async def tutor_packages(session: Session, tutor_id: uuid.UUID, *, public: bool) -> PackageList:
    """The packages a tutor sells (for anyone: only a published tutor's)."""
    terms = await repository.tutor_terms(session, tutor_id)
    if terms is None or (public and not terms.is_active):
        raise TutorNotFound() if public else ProfileNotFound()
    return PackageList(items=[PackageOut.of(p) for p in await repository.active_packages(session, tutor_id)])


async def deactivate(session: Session, tutor_id: uuid.UUID, package_id: uuid.UUID) -> None:
    """Stop selling one package (credits already bought stay valid)."""
    if not await repository.deactivate(session, tutor_id, [package_id]):
        raise PackageNotFound()


async def start_checkout(session: Session, settings: Settings, student_id: uuid.UUID, package_id: uuid.UUID,
                         now: datetime) -> PurchaseCheckoutOut:
    """Start buying a package: a ``pending`` purchase at the package's terms, and the payment
    to complete (Stripe's ``client_secret``, or the test provider)."""
    package = await repository.get_package(session, package_id)
    if package is None or not package.active:
        raise PackageNotFound()
    if package.tutor_id == student_id:
        raise OwnPackage()
    purchase = PackagePurchase(id=uuid.uuid4(), package_id=package.id, student_id=student_id,
                               tutor_id=package.tutor_id, lessons=package.lessons, minutes=package.minutes,
                               price_cents=package.price_cents, currency=package.currency,
                               status=PurchaseStatus.PENDING, remaining=0, created_at=now)
    payment = PurchasePaymentOut(provider=PaymentProvider.TEST)
    if settings.payments_provider == "test":
        purchase.payment_provider = PaymentProvider.TEST
    else:
        charge = await money.charge_terms(session, settings, package.tutor_id, package.price_cents,
                                           package.currency)
        intent = await stripe_client.create_package_payment_intent(
            settings, str(purchase.id), package.price_cents, package.currency, fee_cents=charge.fee_cents,
            destination=charge.destination)
        purchase.payment_provider, purchase.payment_intent_id = PaymentProvider.STRIPE, intent["id"]
        payment = PurchasePaymentOut(provider=PaymentProvider.STRIPE, client_secret=intent["client_secret"],
                                     publishable_key=settings.stripe_publishable_key or None)
    repository.add(session, purchase)
    await repository.flush(session)
    return PurchaseCheckoutOut(purchase_id=purchase.id, purchase=PurchaseOut.of(purchase), payment=payment)


async def get_purchase(session: Session, student_id: uuid.UUID, purchase_id: uuid.UUID) -> PurchaseOut:
    purchase = await repository.get_purchase(session, purchase_id)
    if purchase is None or purchase.student_id != student_id:
        raise PurchaseNotFound()
    return PurchaseOut.of(purchase)


async def _granted(session: Session, purchase: PackagePurchase, now: datetime) -> None:
    """Tell the student their credits arrived (live ``credits.updated``)."""
    await emit(session, [("credits.updated", user_room(purchase.student_id),
                          {"purchase": PurchaseOut.of(purchase).model_dump(mode="json")})])
    log.info("granted %d credits of purchase %s", purchase.lessons, purchase.id)


async def confirm_test_purchase(session: Session, settings: Settings, student_id: uuid.UUID,
                                purchase_id: uuid.UUID, now: datetime) -> PurchaseOut:
    """The test provider's "payment succeeded" for a purchase (only without Stripe): grants the
    credits once (a second call returns the purchase as it is)."""
    if settings.payments_provider != "test":
        raise TestProviderDisabled()
    purchase = await repository.get_purchase(session, purchase_id)
    if purchase is None or purchase.student_id != student_id:
        raise PurchaseNotFound()
    granted = await repository.grant(session, purchase.id, PaymentProvider.TEST, None, now,
                                     settings.credit_expiry_months)
    if granted is not None:
        await _granted(session, granted, now)
        return PurchaseOut.of(granted)
    return PurchaseOut.of(await repository.get_purchase(session, purchase_id) or purchase)


async def settle_intent(session: Session, settings: Settings, obj: dict[str, Any], succeeded: bool,
                        now: datetime) -> str:
    """A package's PaymentIntent succeeded (credits granted and the sale's ledger entries
    posted, once) or failed (``failed`` while not paid); returns the webhook's outcome."""
    purchase_id = await repository.purchase_for_intent(session, (obj.get("metadata") or {}).get("purchase_id"),
                                                       obj.get("id"))
    if purchase_id is None:
        log.warning("stripe intent %s names no known package purchase", obj.get("id"))
        return "unknown_purchase"
    if not succeeded:
        return "failed" if await repository.mark_failed(session, purchase_id) else "stale"
    purchase = await repository.grant(session, purchase_id, PaymentProvider.STRIPE, obj.get("id"), now,
                                      settings.credit_expiry_months)
    if purchase is None:
        return "already_granted"
    gross = int(obj.get("amount_received") or obj.get("amount") or purchase.price_cents)
    destination = (obj.get("transfer_data") or {}).get("destination")
    fee_meta = str((obj.get("metadata") or {}).get("platform_fee_cents", ""))
    fee = (int(obj.get("application_fee_amount") or 0) if destination
           else int(fee_meta) if fee_meta.isdigit() else money.platform_fee(settings, gross))
    await money.record_package_sale(session, purchase_id=purchase.id, tutor_id=purchase.tutor_id, gross=gross,
                                    currency=str(obj.get("currency") or purchase.currency), fee=fee,
                                    destination=destination, intent_id=obj.get("id"))
    await _granted(session, purchase, now)
    return "credits_granted"


async def my_credits(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID | None,
                     now: datetime) -> CreditList:
    """The student's unexpired credits, soonest to expire first."""
    return CreditList(items=[CreditOut.of(r) for r in await repository.credits(session, student_id, tutor_id, now)])


async def remind_expiring(session: Session, settings: Settings, now: datetime, batch: int) -> int:
    """Remind students whose unused credits expire within ``CREDIT_EXPIRY_REMINDER_DAYS``
    (once per purchase): the live ``credits.expiring`` event and, with Brevo, the
    ``credits_expiring`` e-mail. Returns how many purchases were reminded."""
    if settings.credit_expiry_reminder_days <= 0:
        return 0
    rows = await repository.claim_reminders(session, now, now + timedelta(days=settings.credit_expiry_reminder_days),
                                            batch)
    for row in rows:
        payload = {"purchase_id": str(row.id), "tutor_id": str(row.tutor_id), "minutes": row.minutes,
                   "remaining": row.remaining, "expires_at": row.expires_at.isoformat()}
        await emit(session, [("credits.expiring", user_room(row.student_id), payload)])
        if settings.brevo_configured:
            enqueue(session, settings, "email.send", str(row.student_id), EmailTemplate.CREDITS_EXPIRING,
                    {"purchase_id": str(row.id)})
    return len(rows)
