"""Brevo transactional e-mail: ``POST {BREVO_API_BASE}/v3/smtp/email`` with the ``api-key`` header.

Brevo has no idempotency key, so a retry after a lost answer may send twice; the sweep that
kicks e-mails marks each change once (server/dispatch/service.py), which keeps that to
the rare provider time-out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from server.providers import http
from server.settings import Settings

PROVIDER = "brevo"


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content: bytes


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One rendered message for one recipient."""

    to_email: str
    to_name: str
    subject: str
    html: str
    text: str
    template: str
    attachments: tuple[Attachment, ...] = field(default=())


def payload(settings: Settings, message: OutgoingEmail) -> dict[str, object]:
    """The JSON body Brevo's ``sendTransacEmail`` expects."""
    body: dict[str, object] = {
        "sender": {"name": settings.email_sender_name, "email": settings.email_sender_address},
        "to": [{"email": message.to_email, "name": message.to_name}],
        "subject": message.subject,
        "htmlContent": message.html,
        "textContent": message.text,
        "tags": [message.template],
        "headers": {"X-EduStream-Template": message.template},
    }
    if message.attachments:
        body["attachment"] = [{"name": a.name, "content": base64.b64encode(a.content).decode()}
                              for a in message.attachments]
    return body


async def send(settings: Settings, message: OutgoingEmail) -> str:
    """Send ``message``; returns Brevo's message id."""
    async with http.client(settings) as client:
        result = await http.request(PROVIDER, client, "POST", settings.brevo_api_base.rstrip("/") + "/v3/smtp/email",
                                    json=payload(settings, message),
                                    headers={"api-key": settings.brevo_api_key, "accept": "application/json"})
    return str((result or {}).get("messageId", ""))
