"""Rendering e-mail templates from the files in ``server/emails/templates``.

Each template ``NAME`` is three files: ``NAME.subject.txt`` (one line), ``NAME.html`` (which
extends ``_layout.html``) and ``NAME.txt``. HTML is autoescaped; a missing variable is an
error (StrictUndefined), so a template and its context cannot drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# name -> what it is for (also the order of the preview index).
TEMPLATES: dict[str, str] = {
    "welcome": "a new account (password or Google sign-up)",
    "verify_email": "the link that verifies a new account's address (and each one asked for again)",
    "booking_confirmed": "a lesson is confirmed; to both parties, with an .ics attachment",
    "hold_expiring": "the student's hold lapses soon",
    "session_reminder": "a lesson starts soon (EMAIL_REMINDER_MINUTES before); to both parties",
    "booking_rescheduled": "a lesson moved; to both parties, with the updated .ics",
    "booking_cancelled": "a lesson was cancelled; to both parties, with a cancelling .ics",
    "refund_issued": "the student's refund went through",
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
