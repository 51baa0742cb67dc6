"""Stripe's webhook endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import BaseModel

from server.db import Session
from server.errors import InvalidRequest
from server.http import Ctx, Router
from server.payments import service
from server.payouts.errors import TransferInFlight
from server.providers import stripe as stripe_client

router = Router("/api/v1", tags=["payments"])


class WebhookAck(BaseModel):
    received: bool
    outcome: str


@router.post("/webhooks/stripe", summary="Stripe webhook (signed events)", errors=[stripe_client.InvalidSignature, TransferInFlight],
             webhook=True)
async def stripe_webhook(ctx: Ctx, session: Session) -> WebhookAck:
    """Verifies `Stripe-Signature` over the raw body (400 `invalid_signature` otherwise), records
    the event id once (duplicates and replays are no-ops) and applies it. 409 `transfer_in_flight`
    (nothing recorded: Stripe delivers the event again) for a refund that arrives while the
    tutor's share of that booking is being transferred."""
    payload = await ctx.request.body()
    stripe_client.verify_webhook(ctx.settings, payload, ctx.request.headers.get("stripe-signature"))
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise InvalidRequest("The event is not JSON.") from exc
    outcome = await service.handle_event(session, ctx.settings, event, datetime.now(UTC))
    return WebhookAck(received=True, outcome=outcome)
