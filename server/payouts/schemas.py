"""Payouts' edge schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from models.payout import EarningStatus, PayoutState
from server.timestamps import Timestamp


class OnboardingOut(BaseModel):
    url: str = Field(description="Stripe's hosted onboarding page (an Account Link); valid for a few minutes, "
                                 "single use: ask again for a fresh one.")
    status: PayoutState


class PayoutStatusOut(BaseModel):
    status: PayoutState = Field(description="`not_started` (no account yet) → `pending` (onboarding or review) "
                                            "→ `active` (paid directly) | `restricted` (Stripe needs more).")
    charges_enabled: bool
    payouts_enabled: bool
    platform_fee_bps: int = Field(description="The platform's share of each lesson in basis points (1500 = 15 %).")
    default_currency: str | None = Field(default=None, description="The currency Stripe pays the account out "
                                                                   "in (known once onboarding started); lessons "
                                                                   "must be priced in it.")


class EarningOut(BaseModel):
    booking_id: uuid.UUID
    start: datetime
    end: datetime
    gross_cents: int = Field(description="What the student paid.")
    fee_cents: int = Field(description="The platform's share (PLATFORM_FEE_BPS of the price, rounded down).")
    net_cents: int = Field(description="gross − fee − the tutor's part of any refund.")
    refunded_cents: int
    currency: str
    status: EarningStatus = Field(description="`pending` until the lesson is over and the refund window "
                                              "(PAYOUT_REFUND_WINDOW_HOURS) passed, then `available`; `paid` "
                                              "once Stripe paid it out; `reversed` when refunded in full.")
    payout_id: str | None = None


class EarningsTotal(BaseModel):
    currency: str
    gross_cents: int
    fee_cents: int
    refunded_cents: int
    net_cents: int
    pending_cents: int
    available_cents: int
    paid_cents: int


class EarningsPage(BaseModel):
    items: list[EarningOut]
    next_cursor: str | None = None
    totals: list[EarningsTotal] = Field(description="Per currency, over every line (not only this page).")


class EarningsQuery(BaseModel):
    from_: Timestamp | None = Field(default=None, alias="from", description="Lessons starting at or after.")
    to: Timestamp | None = Field(default=None, description="Lessons starting before.")
    cursor: str | None = None
    limit: int = Field(default=50, ge=1, le=200)
