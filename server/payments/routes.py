"""Stripe's webhook endpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import BaseModel

from server.db import unit_of_work
from server.errors import InvalidRequest
from server.http import Ctx, Router
from server.payments import service, stripe_api
from server.payments.kick import kick_refund

router = Router("/api/v1", tags=["payments"])


class WebhookAck(BaseModel):
    received: bool
    outcome: str


@router.post("/webhooks/stripe", summary="Stripe webhook (signed events)", errors=[stripe_api.InvalidSignature])
async def stripe_webhook(ctx: Ctx) -> WebhookAck:
    """Verifies `Stripe-Signature` over the raw body (400 `invalid_signature` otherwise), records
    the event id once (duplicates and replays are no-ops) and applies it."""
    payload = await ctx.request.body()
    stripe_api.verify_webhook(ctx.settings, payload, ctx.request.headers.get("stripe-signature"))
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise InvalidRequest("The event is not JSON.") from exc
    async with unit_of_work(ctx.sessionmaker) as session:
        outcome, booking_id = await service.handle_event(session, event, datetime.now(UTC))
        if outcome == "refund" and booking_id is not None:
            session.after_commit(lambda: kick_refund(ctx.settings, booking_id))
    return WebhookAck(received=True, outcome=outcome)
