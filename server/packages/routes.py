"""HTTP routes for lesson packages and credits: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.db import Session
from server.http import STUDENT, TUTOR, Ctx, Router
from server.idempotency import IdempotencyKeyReused, Replayable, run_idempotent
from server.packages import service
from server.packages.errors import OwnPackage, PackageNotFound, PurchaseNotFound, TestProviderDisabled
from server.packages.schemas import (
    CreditList,
    CreditQuery,
    PackageList,
    PackagesIn,
    PurchaseCheckoutOut,
    PurchaseOut,
    TestPurchaseIn,
)
from server.providers.stripe import PaymentProviderError
from server.tutors.errors import ProfileNotFound, TutorNotFound

router = Router("/api/v1", tags=["packages"])


@router.put("/tutors/me/packages", auth=TUTOR, summary="Replace the lesson packages you sell",
            errors=[ProfileNotFound])
async def put_my_packages(ctx: Ctx, session: Session, body: PackagesIn) -> PackageList:
    """Each package is `lessons` lessons of `minutes` (one of your lesson lengths) for
    `price_cents` in your profile's currency. Packages left out stop being sold (students keep
    the credits they bought); an unchanged package keeps its id. An empty list sells none."""
    return await service.replace_packages(session, ctx.user.id, body)


@router.get("/tutors/me/packages", auth=TUTOR, summary="The lesson packages you sell", errors=[ProfileNotFound])
async def get_my_packages(ctx: Ctx, session: Session) -> PackageList:
    return await service.tutor_packages(session, ctx.user.id, public=False)


@router.delete("/tutors/me/packages/{package_id}", auth=TUTOR, summary="Stop selling a package",
               errors=[PackageNotFound])
async def deactivate_package(ctx: Ctx, session: Session, package_id: uuid.UUID) -> None:
    """204; credits already bought stay valid. 404 `package_not_found` for a package that is
    not yours or no longer sold."""
    await service.deactivate(session, ctx.user.id, package_id)


@router.get("/tutors/{tutor_id}/packages", summary="A tutor's lesson packages", errors=[TutorNotFound])
async def tutor_packages(ctx: Ctx, session: Session, tutor_id: uuid.UUID) -> PackageList:
    return await service.tutor_packages(session, tutor_id, public=True)


@router.post("/packages/{package_id}/checkout", auth=STUDENT, status=201, summary="Buy a lesson package",
             errors=[PackageNotFound, OwnPackage, PaymentProviderError, IdempotencyKeyReused])
async def checkout_package(ctx: Ctx, session: Session, package_id: uuid.UUID) -> PurchaseCheckoutOut:
    """Starts a purchase (`pending`) and returns the payment to complete: Stripe (`client_secret`
    for Stripe Elements) or, without Stripe keys, the test provider
    (`POST /payments/test/confirm-purchase`). The credits (`GET /me/credits`) are granted when
    the payment succeeds, once; the live event `credits.updated` `{purchase}` tells the student."""
    async def action() -> PurchaseCheckoutOut:
        return await service.start_checkout(session, ctx.settings, ctx.user.id, package_id, datetime.now(UTC))

    return await run_idempotent(session, Replayable.of(ctx, None, 201), action)  # type: ignore[return-value]


@router.get("/purchases/{purchase_id}", auth=STUDENT, summary="One of your package purchases",
            errors=[PurchaseNotFound])
async def get_purchase(ctx: Ctx, session: Session, purchase_id: uuid.UUID) -> PurchaseOut:
    return await service.get_purchase(session, ctx.user.id, purchase_id)


@router.post("/payments/test/confirm-purchase", auth=STUDENT, summary="Test provider: pay for a package",
             errors=[PurchaseNotFound, TestProviderDisabled])
async def test_purchase_confirm(ctx: Ctx, session: Session, body: TestPurchaseIn) -> PurchaseOut:
    """Only when Stripe is not configured (never in production): completes a test payment of a
    package purchase and grants its credits (once)."""
    return await service.confirm_test_purchase(session, ctx.settings, ctx.user.id, body.purchase_id,
                                               datetime.now(UTC))


@router.get("/me/credits", auth=STUDENT, summary="Your unexpired lesson credits")
async def my_credits(ctx: Ctx, session: Session, query: CreditQuery) -> CreditList:
    """One item per paid package with credits left: the tutor, the lesson length they pay for,
    how many remain and when they expire (CREDIT_EXPIRY_MONTHS after the payment). Spend one
    with `POST /bookings/{id}/checkout` `{use_credit: true}`."""
    return await service.my_credits(session, ctx.user.id, query.tutor_id, datetime.now(UTC))
