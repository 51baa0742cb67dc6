"""Sending one e-mail: compose it from fresh data, then hand it to Brevo."""

from __future__ import annotations

import logging
from typing import Any

from server.db import Sessionmaker, unit_of_work
from server.emails.compose import EmailNotApplicable, compose
from server.providers import brevo
from server.settings import Settings

log = logging.getLogger("edustream.integrations.email")

# RFC 2606/6761 names that never receive mail (the demo accounts live under .test): sending
# there would only bounce or be refused.
UNDELIVERABLE_TLDS = (".test", ".example", ".invalid", ".localhost")


async def deliver(sessionmaker: Sessionmaker, settings: Settings, to: str, template: str,
                  context: dict[str, Any]) -> str:
    """Send ``template`` to ``to`` (a user id or an address). Returns Brevo's message id, or
    ``skipped`` / ``not_configured``. Provider failures raise (see server/providers/http.py)."""
    if not settings.brevo_configured:
        log.info("email %s to %s not sent: Brevo is not configured (BREVO_API_KEY)", template, to)
        return "not_configured"
    async with unit_of_work(sessionmaker) as session:
        try:
            message = await compose(session, settings, to, template, context)
        except EmailNotApplicable as exc:
            log.info("email %s to %s skipped: %s", template, to, exc)
            return "skipped"
    if message.to_email.lower().rstrip(".").endswith(UNDELIVERABLE_TLDS):
        log.info("email %s to %s skipped: reserved domain", template, message.to_email)
        return "skipped"
    message_id = await brevo.send(settings, message)
    log.info("email %s sent to %s (%s)", template, to, message_id)
    return message_id
