"""Payouts' domain errors."""

from __future__ import annotations

from server.errors import Conflict, FeatureDisabled, InvalidRequest


class PayoutsNotConfigured(FeatureDisabled):
    """Stripe is not configured on this server: tutors cannot onboard (404 ``feature_disabled``)."""

    message = "Payouts need Stripe, which is not configured on this server."


class TransferInFlight(Conflict):
    """A Transfer of the booking's tutor share is being created: a refund waits for it (the task retries)."""

    code = "transfer_in_flight"
    message = "The tutor's share is being transferred; the refund is retried once it is done."


class CurrencyNotPayable(InvalidRequest):
    """The tutor prices in a currency their Stripe account is not paid out in (422)."""

    code = "currency_not_payable"
    message = "Your payout account is paid in another currency: price your lessons in that currency."
