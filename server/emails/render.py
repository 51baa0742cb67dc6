"""Rendering e-mail templates from the files in ``server/emails/templates``.

Each template ``NAME`` is three files: ``NAME.subject.txt`` (one line), ``NAME.html`` (which
extends ``_layout.html``) and ``NAME.txt``. HTML is autoescaped; a missing variable is an
error (StrictUndefined), so a template and its context cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"



class EmailTemplate(StrEnum):
    """The e-mails we send, by template name (the ``email.send`` task's argument)."""

    WELCOME = "welcome"
    VERIFY_EMAIL = "verify_email"
    BOOKING_CONFIRMED = "booking_confirmed"
    HOLD_EXPIRING = "hold_expiring"
    SESSION_REMINDER = "session_reminder"
    BOOKING_RESCHEDULED = "booking_rescheduled"
    BOOKING_CANCELLED = "booking_cancelled"
    REFUND_ISSUED = "refund_issued"
    REVIEW_REQUEST = "review_request"
    CREDITS_EXPIRING = "credits_expiring"
    MESSAGE_UNREAD = "message_unread"


# template -> what it is for (also the order of the preview index).
TEMPLATES: dict[EmailTemplate, str] = {
    EmailTemplate.WELCOME: "a new account (password or Google sign-up)",
    EmailTemplate.VERIFY_EMAIL: "the link that verifies a new account's address (and each one asked for again)",
    EmailTemplate.BOOKING_CONFIRMED: "a lesson is confirmed; to both parties, with an .ics attachment",
    EmailTemplate.HOLD_EXPIRING: "the student's hold lapses soon",
    EmailTemplate.SESSION_REMINDER: "a lesson starts soon (EMAIL_REMINDER_MINUTES before); to both parties",
    EmailTemplate.BOOKING_RESCHEDULED: "a lesson moved; to both parties, with the updated .ics",
    EmailTemplate.BOOKING_CANCELLED: "a lesson was cancelled; to both parties, with a cancelling .ics",
    EmailTemplate.REFUND_ISSUED: "the student's refund went through",
    EmailTemplate.REVIEW_REQUEST: "a lesson was completed: the student is asked to review it (not once reviewed)",
    EmailTemplate.CREDITS_EXPIRING: "the student's unused package credits expire soon (CREDIT_EXPIRY_REMINDER_DAYS)",
    EmailTemplate.MESSAGE_UNREAD: "a message is still unread MESSAGE_EMAIL_AFTER_SECONDS after it was sent",
}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    html: str
    text: str


def _environment(autoescape: bool) -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html"]) if autoescape else False,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


_HTML = _environment(True)
_TEXT = _environment(False)


class UnknownTemplate(LookupError):
    """No template of that name."""


def render(name: str, context: dict[str, Any]) -> Rendered:
    """Render template ``name`` with ``context``."""
    if name not in TEMPLATES:
        raise UnknownTemplate(f"no e-mail template named {name!r}")
    subject = _TEXT.get_template(f"{name}.subject.txt").render(context).strip()
    html = _HTML.get_template(f"{name}.html").render({**context, "subject": subject})
    text = _TEXT.get_template(f"{name}.txt").render(context)
    return Rendered(subject=" ".join(subject.split()), html=html, text=text)
