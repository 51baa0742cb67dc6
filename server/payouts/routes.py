"""A tutor's payouts: Stripe Connect onboarding, the account's state, and earnings."""

from __future__ import annotations

from datetime import UTC, datetime

from server.db import Session
from server.http import TUTOR, Ctx, Router
from server.pagination import InvalidCursor
from server.payouts import service
from server.payouts.errors import PayoutsNotConfigured
from server.payouts.schemas import EarningsPage, EarningsQuery, OnboardingOut, PayoutStatusOut
from server.providers.stripe import PaymentProviderError

router = Router("/api/v1", tags=["payouts"])


@router.post("/tutors/me/payouts/onboarding", auth=TUTOR, summary="Start or finish Stripe onboarding",
             errors=[PayoutsNotConfigured, PaymentProviderError])
async def start_onboarding(ctx: Ctx, session: Session) -> OnboardingOut:
    """Creates your Stripe Connect Express account the first time (never a second one, however
    often this is called) and returns a fresh single-use link to Stripe's hosted onboarding.
    404 `feature_disabled` when Stripe is not configured."""
    return await service.start_onboarding(session, ctx.settings, ctx.user.id)


@router.get("/tutors/me/payouts", auth=TUTOR, summary="Your payout account's state")
async def get_payouts(ctx: Ctx, session: Session) -> PayoutStatusOut:
    """Follows Stripe's `account.updated` events; the live `payout.updated` event carries the same fields."""
    return await service.status(session, ctx.settings, ctx.user.id)


@router.get("/tutors/me/earnings", auth=TUTOR, summary="Your earnings per lesson", errors=[InvalidCursor])
async def get_earnings(ctx: Ctx, session: Session, query: EarningsQuery) -> EarningsPage:
    """One line per paid lesson (filtered by the lesson's start with `from`/`to`), newest first,
    cursor-paginated; `totals` per currency cover every line."""
    return await service.earnings(session, ctx.settings, ctx.user.id, query, datetime.now(UTC))
