"""The official ``stripe`` library's async client, configured from settings.

Every call is keyed for idempotency on Stripe's side (``booking-<id>-<action>``), so a
retried task or a double click never creates a second PaymentIntent or refund.

Calls made while answering a request (:func:`create_payment_intent`,
:func:`retrieve_payment_intent`) turn Stripe's errors into :class:`PaymentProviderError`
with our own message; Stripe's message (object ids, account details) is logged only. The
task-side calls (refunds, cancelling intents) raise ``stripe`` errors, which the task layer
classifies for retries and dead letters (never shown to clients).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, TypeVar

import stripe

from server.errors import AppError
from server.settings import Settings

log = logging.getLogger("edustream.providers.stripe")
T = TypeVar("T")


class PaymentProviderError(AppError):
    status = 502
    code = "payment_provider_error"
    message = "The payment provider could not be reached; try again."


async def _for_client(action: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run a Stripe call whose failure reaches an API client: log Stripe's words, answer ours."""
    try:
        return await call()
    except stripe.StripeError as exc:
        log.warning("stripe %s failed: %s (http status %s, code %s, request id %s)", action,
                    exc.user_message or str(exc), exc.http_status, exc.code, exc.request_id)
        raise PaymentProviderError(details={"provider": "stripe"}) from exc


class InvalidSignature(AppError):
    status = 400
    code = "invalid_signature"
    message = "The webhook signature is missing, invalid or stale."


@lru_cache(maxsize=8)
def _client(secret_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(secret_key, http_client=stripe.HTTPXClient(), base_addresses={"api": api_base},
                               max_network_retries=0)


def client(settings: Settings) -> stripe.StripeClient:
    return _client(settings.stripe_secret_key, settings.stripe_api_base.rstrip("/"))


async def create_payment_intent(settings: Settings, booking_id: str, amount: int, currency: str, *,
                                fee_cents: int = 0, destination: str | None = None) -> dict[str, Any]:
    """Create (once per booking) the PaymentIntent a held booking is paid through: a
    destination charge to the tutor's connected account (``application_fee_amount`` the
    platform's share) when ``destination`` is given, else a charge kept on the platform.
    The metadata carries the fee either way, so the webhook records what checkout decided."""
    return await _create_intent(settings, f"booking-{booking_id}-payment-intent", amount, currency,
                                metadata={"booking_id": booking_id}, description=f"EduStream lesson {booking_id}",
                                group=booking_id, fee_cents=fee_cents, destination=destination)


async def create_package_payment_intent(settings: Settings, purchase_id: str, amount: int, currency: str, *,
                                        fee_cents: int = 0, destination: str | None = None) -> dict[str, Any]:
    """The PaymentIntent of a lesson package purchase (once per purchase), on the same terms as
    a lesson's; its metadata names the purchase (``purchase_id``) instead of a booking."""
    return await _create_intent(settings, f"purchase-{purchase_id}-payment-intent", amount, currency,
                                metadata={"purchase_id": purchase_id},
                                description=f"EduStream lesson package {purchase_id}",
                                group=f"purchase-{purchase_id}", fee_cents=fee_cents, destination=destination)


async def create_series_payment_intent(settings: Settings, series_id: str, amount: int, currency: str, *,
                                       fee_cents: int = 0, destination: str | None = None) -> dict[str, Any]:
    """The one PaymentIntent that pays every held occurrence of a weekly series (once per
    series); its metadata names the series (``series_id``)."""
    return await _create_intent(settings, f"series-{series_id}-payment-intent", amount, currency,
                                metadata={"series_id": series_id}, description=f"EduStream weekly lessons {series_id}",
                                group=f"series-{series_id}", fee_cents=fee_cents, destination=destination)


async def _create_intent(settings: Settings, key: str, amount: int, currency: str, *, metadata: dict[str, str],
                         description: str, group: str, fee_cents: int, destination: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "amount": amount, "currency": currency.lower(), "automatic_payment_methods": {"enabled": True},
        "metadata": {**metadata, "platform_fee_cents": str(fee_cents)},
        "description": description, "transfer_group": group}
    if destination:
        params["transfer_data"] = {"destination": destination}
        params["application_fee_amount"] = fee_cents
    intent = await _for_client("create payment intent", lambda: client(settings).v1.payment_intents.create_async(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": key}))
    return {"id": intent.id, "client_secret": intent.client_secret, "status": intent.status}


async def retrieve_payment_intent(settings: Settings, intent_id: str) -> dict[str, Any]:
    intent = await _for_client("retrieve payment intent",
                               lambda: client(settings).v1.payment_intents.retrieve_async(intent_id))
    return {"id": intent.id, "client_secret": intent.client_secret, "status": intent.status}


async def cancel_payment_intent(settings: Settings, booking_id: str, intent_id: str) -> str:
    """Cancel an unpaid PaymentIntent (its hold lapsed or was released). Returns its status."""
    try:
        intent = await client(settings).v1.payment_intents.cancel_async(
            intent_id, options={"idempotency_key": f"booking-{booking_id}-cancel-intent"})
    except stripe.InvalidRequestError as exc:  # already succeeded or cancelled: nothing to cancel
        if exc.code == "payment_intent_unexpected_state":
            return "unexpected_state"
        raise
    return str(intent.status)


async def refund(settings: Settings, booking_id: str, intent_id: str, amount: int, *,
                 destination: bool = False) -> dict[str, Any]:
    """Refund ``amount`` of the booking's payment (idempotent per booking and amount). A
    destination charge's refund takes the tutor's share back (``reverse_transfer``) and gives
    back the platform fee in proportion (``refund_application_fee``)."""
    params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount, "metadata": {"booking_id": booking_id}}
    if destination:
        params.update(reverse_transfer=True, refund_application_fee=True)
    result = await client(settings).v1.refunds.create_async(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": f"booking-{booking_id}-refund-{amount}"})
    return {"id": result.id, "status": result.status, "amount": result.amount}


async def create_connect_account(settings: Settings, tutor_id: str, email: str) -> str:
    """Create (once per tutor) the tutor's Stripe Connect Express account; returns its id."""
    account = await _for_client("create connect account", lambda: client(settings).v1.accounts.create_async(
        params={"type": "express", "email": email, "metadata": {"tutor_id": tutor_id},
                "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}}},
        options={"idempotency_key": f"tutor-{tutor_id}-connect-account"}))
    return str(account.id)


async def create_account_link(settings: Settings, account_id: str, refresh_url: str, return_url: str) -> str:
    """A short-lived onboarding link for a connected account (a new one every time)."""
    link = await _for_client("create account link", lambda: client(settings).v1.account_links.create_async(
        params={"account": account_id, "refresh_url": refresh_url, "return_url": return_url,
                "type": "account_onboarding"}))
    return str(link.url)


async def create_transfer(settings: Settings, booking_id: str, account_id: str, amount: int, currency: str,
                          charge_id: str | None) -> dict[str, Any]:
    """Move a booking's tutor share from the platform to the tutor's account (once per booking)."""
    params: dict[str, Any] = {"amount": amount, "currency": currency.lower(), "destination": account_id,
                              "transfer_group": booking_id, "metadata": {"booking_id": booking_id}}
    if charge_id:
        params["source_transaction"] = charge_id
    result = await client(settings).v1.transfers.create_async(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": f"booking-{booking_id}-transfer"})
    return {"id": result.id, "amount": result.amount}


async def reverse_transfer(settings: Settings, booking_id: str, transfer_id: str, amount: int) -> dict[str, Any]:
    """Take ``amount`` of a separate Transfer back from the tutor (once per booking and amount)."""
    result = await client(settings).v1.transfers.reversals.create_async(
        transfer_id, params={"amount": amount, "metadata": {"booking_id": booking_id}},
        options={"idempotency_key": f"booking-{booking_id}-reversal-{amount}"})
    return {"id": result.id, "amount": result.amount}


async def retrieve_transfer(settings: Settings, transfer_id: str) -> dict[str, Any]:
    """A Transfer as Stripe has it (amount, amount reversed), for ``edustream ledger check``."""
    result = await client(settings).v1.transfers.retrieve_async(transfer_id)
    return {"id": result.id, "amount": result.amount, "amount_reversed": result.amount_reversed}


async def retrieve_payout(settings: Settings, account_id: str, payout_id: str) -> dict[str, Any]:
    """A connected account's payout as Stripe has it (amount, currency, status and whether its
    balance transactions can be listed yet: ``reconciliation_status``)."""
    payout = await client(settings).v1.payouts.retrieve_async(payout_id, options={"stripe_account": account_id})
    return {"id": payout.id, "amount": payout.amount, "currency": str(payout.currency).upper(),
            "status": payout.status, "reconciliation_status": getattr(payout, "reconciliation_status", None)}


def _booking_of(transfer: Any) -> tuple[str | None, str | None]:
    """(booking id, transfer id) of an expanded Transfer: our Transfers and destination charges
    carry the booking as ``transfer_group`` (and separate Transfers in their metadata)."""
    if not isinstance(transfer, dict):
        return None, transfer if isinstance(transfer, str) else None
    metadata = transfer.get("metadata") or {}
    return transfer.get("transfer_group") or metadata.get("booking_id"), transfer.get("id")


async def payout_balance_transactions(settings: Settings, account_id: str, payout_id: str) -> list[dict[str, Any]]:
    """Every balance transaction a connected account's payout covered, all pages, each with the
    booking and Transfer behind it when there is one: a share that reached the account arrives
    as a ``payment`` whose source (the account's side of the Transfer) names the Transfer."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"payout": payout_id, "limit": 100, "expand": ["data.source.source_transfer"]}
    while True:
        page = await client(settings).v1.balance_transactions.list_async(
            params=params,  # type: ignore[arg-type]
            options={"stripe_account": account_id})
        for txn in (t.to_dict() for t in page.data):
            source = txn.get("source")
            booking, transfer = None, None
            source_id = source.get("id") if isinstance(source, dict) else source
            if isinstance(source, dict):
                if source.get("object") == "transfer":
                    booking, transfer = _booking_of(source)
                else:
                    booking, transfer = _booking_of(source.get("source_transfer"))
            out.append({"id": txn["id"], "type": txn["type"], "amount": int(txn["amount"]),
                        "currency": str(txn["currency"]).upper(), "booking_id": booking, "transfer_id": transfer,
                        "source_id": source_id})
        if not page.has_more or not page.data:
            return out
        params = {**params, "starting_after": page.data[-1].id}


def verify_webhook(settings: Settings, payload: bytes, signature: str | None) -> None:
    """Check Stripe's signature over the raw body (5-minute tolerance) or raise 400."""
    if not signature or not settings.stripe_webhook_secret:
        raise InvalidSignature()
    try:
        stripe.WebhookSignature.verify_header(payload.decode("utf-8"), signature, settings.stripe_webhook_secret,
                                              tolerance=300)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise InvalidSignature() from exc
