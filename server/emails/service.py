"""Transactional e-mail: turning ``email.send(to, template, context)`` into a rendered
message from fresh data, and handing it to Brevo (server/providers/brevo.py).

The task carries ids only; here the recipient, the booking and the other party are read
again, times are shown in the recipient's time zone (``users.timezone``; a tutor still on
the default ``UTC`` gets the profile's zone), and a message whose moment has passed (the
hold was paid, the lesson moved again) is skipped rather than sent stale. Which changes
send which e-mails is decided by the dispatch sweep (server/dispatch/service.py).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from models.booking import Booking, BookingStatus, PaymentStatus
from server.auth import verification
from server.availability.weekly import moved_for_student
from server.db import Session
from server.emails import repository
from server.emails.format import format_date, format_money, format_time, format_when, zone
from server.emails.ics import lesson_ics
from server.emails.render import TEMPLATES, EmailTemplate, render
from server.providers import brevo
from server.providers.brevo import Attachment, OutgoingEmail
from server.settings import Settings

log = logging.getLogger("edustream.emails")

ACCOUNT_TEMPLATES = frozenset({EmailTemplate.WELCOME, EmailTemplate.VERIFY_EMAIL})
CREDIT_TEMPLATES = frozenset({EmailTemplate.CREDITS_EXPIRING})
MESSAGE_TEMPLATES = frozenset({EmailTemplate.MESSAGE_UNREAD})
BOOKING_TEMPLATES = frozenset(TEMPLATES) - ACCOUNT_TEMPLATES - CREDIT_TEMPLATES - MESSAGE_TEMPLATES
# The unread-message e-mail quotes at most this many of the newest unread messages.
MESSAGE_EMAIL_QUOTES = 3
# The templates with a lesson .ics attached -> whether it cancels the event.
ICS_TEMPLATES: dict[str, bool] = {EmailTemplate.BOOKING_CONFIRMED: False, EmailTemplate.BOOKING_RESCHEDULED: False,
                                  EmailTemplate.BOOKING_CANCELLED: True}
# RFC 2606/6761 names that never receive mail (the demo accounts live under .test): sending
# there would only bounce or be refused.
UNDELIVERABLE_TLDS = (".test", ".example", ".invalid", ".localhost")


class NotSent(StrEnum):
    """Why :func:`prepare` has no message to send (the ``email.send`` task's result)."""

    NOT_CONFIGURED = "not_configured"  # no Brevo
    SKIPPED = "skipped"  # no longer applicable, or an address that never receives mail


class EmailNotApplicable(Exception):
    """The message no longer makes sense (skipped, not an error)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    id: uuid.UUID | None
    email: str
    name: str
    timezone: str
    role: str


async def recipient_for(session: Session, to: str) -> Recipient:
    """The user ``to`` names (a user id), or a bare address (shown in UTC)."""
    try:
        user_id = uuid.UUID(to)
    except ValueError:
        if "@" not in to:
            raise EmailNotApplicable(f"{to!r} is neither a user id nor an address") from None
        return Recipient(None, to, to.split("@", 1)[0], "UTC", "student")
    user = await repository.get_user(session, user_id)
    if user is None:
        raise EmailNotApplicable(f"user {to} no longer exists")
    timezone = user.timezone or "UTC"
    if timezone == "UTC" and user.role == "tutor":
        timezone = await repository.tutor_profile_timezone(session, user.id) or "UTC"
    return Recipient(user.id, user.email, user.name, timezone, user.role)


def _lesson(settings: Settings, booking: Booking, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": str(booking.id),
        "date": format_date(booking.start_at, tz),
        "time": format_time(booking.start_at, tz),
        "end_time": format_time(booking.end_at, tz),
        "when": format_when(booking.start_at, booking.end_at, tz),
        "minutes": int((booking.end_at - booking.start_at).total_seconds() // 60),
        "price": format_money(booking.price_cents, booking.currency) if booking.price_cents else "",
        "join_url": booking.join_url or "",
        "url": f"{settings.frontend_url.rstrip('/')}/bookings/{booking.id}",
        "timezone": tz.key,
        "review_url": f"{settings.frontend_url.rstrip('/')}/bookings/{booking.id}#review",
    }


def _check_moment(template: str, booking: Booking, context: dict[str, Any], now: datetime) -> None:
    if template == EmailTemplate.HOLD_EXPIRING and (booking.status != BookingStatus.HELD or not booking.expires_at
                                        or booking.expires_at <= now):
        raise EmailNotApplicable("the hold was paid, released or has lapsed")
    if template == EmailTemplate.SESSION_REMINDER:
        if booking.status != BookingStatus.CONFIRMED or booking.start_at <= now:
            raise EmailNotApplicable("the lesson is no longer upcoming")
        if context.get("start") and datetime.fromisoformat(context["start"]) != booking.start_at:
            raise EmailNotApplicable("the lesson moved since the reminder was due")
    if template == EmailTemplate.BOOKING_CONFIRMED and booking.status not in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED):
        raise EmailNotApplicable(f"the booking is {booking.status} now")
    if template == EmailTemplate.REVIEW_REQUEST and booking.status != BookingStatus.COMPLETED:
        raise EmailNotApplicable(f"the booking is {booking.status}, not completed")
    if template == EmailTemplate.REFUND_ISSUED and booking.payment_status != PaymentStatus.REFUNDED:
        raise EmailNotApplicable("no refund was issued")


async def booking_context(session: Session, settings: Settings, recipient: Recipient, booking: Booking,
                          context: dict[str, Any]) -> dict[str, Any]:
    """The template variables of a booking e-mail for ``recipient``."""
    tz = zone(recipient.timezone)
    other_id = booking.tutor_id if recipient.id == booking.student_id else booking.student_id
    other = await repository.get_user(session, other_id)
    values: dict[str, Any] = {"lesson": _lesson(settings, booking, tz), "other": {"name": other.name if other else ""}}
    if booking.expires_at is not None:
        expires = f"{format_time(booking.expires_at, tz)} {booking.expires_at.astimezone(tz).tzname()}"
        values["hold"] = {"expires": expires,
                          "checkout_url": f"{settings.frontend_url.rstrip('/')}/bookings/{booking.id}/checkout"}
    previous = context.get("previous_start")
    values["previous"] = ({"when": format_when(datetime.fromisoformat(previous), None, tz)} if previous else None)
    canceller = await repository.get_user(session, booking.cancelled_by) if booking.cancelled_by else None
    values["cancel"] = {
        "by_you": booking.cancelled_by is not None and booking.cancelled_by == recipient.id,
        "by_name": canceller.name if canceller else "EduStream",
        "reason": booking.cancel_reason or "",
        "refund": format_money(booking.refund_cents, booking.currency) if booking.refund_cents else "",
    }
    values["refund"] = {"amount": format_money(booking.refund_cents or 0, booking.currency)}
    values["series"] = None  # a weekly series' confirmation lists its lessons (see _series_context)
    return values


async def _series_context(session: Session, recipient: Recipient, booking: Booking) -> dict[str, Any]:
    """A weekly series is confirmed in one e-mail, sent for its first confirmed lesson (the
    others' are skipped): every lesson on the recipient's clock, and for the student those
    that move on their clock because one of the two zones changes its clocks."""
    assert booking.series_id is not None
    series, occurrences = await repository.series_with_occurrences(session, booking.series_id)
    confirmed = [b for b in occurrences if b.status in (BookingStatus.CONFIRMED, BookingStatus.COMPLETED)]
    if series is None or not confirmed or confirmed[0].id != booking.id:
        raise EmailNotApplicable("the series' confirmation (sent for its first lesson) covers this lesson")
    tz = zone(recipient.timezone)
    student_zone = zone(series.student_timezone)
    as_student = recipient.id == series.student_id
    lessons = [{"when": format_when(b.start_at, b.end_at, tz),
                "clock_change": as_student and moved_for_student(b.start_at, series.first_start, student_zone)}
               for b in confirmed]
    return {"lessons": lessons, "count": len(lessons), "moves": sum(1 for lesson in lessons if lesson["clock_change"]),
            "tutor_timezone": series.tutor_timezone}


async def _verification_context(session: Session, settings: Settings, context: dict[str, Any],
                                now: datetime) -> dict[str, Any]:
    try:
        verification_id = uuid.UUID(str(context.get("verification_id")))
    except ValueError:
        raise EmailNotApplicable("no verification_id in the context") from None
    url = await verification.link_for(session, settings, verification_id, now)
    if url is None:
        raise EmailNotApplicable("the verification link was used or has expired, or the address changed")
    return {"url": url, "hours": max(1, settings.email_verification_ttl_seconds // 3600)}


async def _credits_context(session: Session, settings: Settings, recipient: Recipient, context: dict[str, Any],
                           now: datetime) -> dict[str, Any]:
    try:
        purchase_id = uuid.UUID(str(context.get("purchase_id")))
    except ValueError:
        raise EmailNotApplicable("no purchase_id in the context") from None
    purchase = await repository.get_purchase(session, purchase_id)
    if purchase is None or purchase.student_id != recipient.id:
        raise EmailNotApplicable("no such purchase of the recipient")
    if purchase.remaining <= 0 or purchase.expires_at is None or purchase.expires_at <= now:
        raise EmailNotApplicable("the credits were spent or have expired")
    tutor = await repository.get_user(session, purchase.tutor_id)
    tz = zone(recipient.timezone)
    return {"other": {"name": tutor.name if tutor else ""},
            "credits": {"remaining": purchase.remaining, "minutes": purchase.minutes,
                        "expires": format_date(purchase.expires_at, tz),
                        "url": f"{settings.frontend_url.rstrip('/')}/tutors/{purchase.tutor_id}"}}


async def _message_context(session: Session, settings: Settings, recipient: Recipient,
                           context: dict[str, Any]) -> dict[str, Any]:
    try:
        conversation_id = uuid.UUID(str(context.get("conversation_id")))
    except ValueError:
        raise EmailNotApplicable("no conversation_id in the context") from None
    if recipient.id is None:
        raise EmailNotApplicable("messages are e-mailed to users only")
    conversation, count, latest = await repository.unread_messages(session, conversation_id, recipient.id,
                                                                   MESSAGE_EMAIL_QUOTES)
    if conversation is None:
        raise EmailNotApplicable("no such conversation of the recipient")
    if count == 0:
        raise EmailNotApplicable("the messages have been read since")
    other = await repository.get_user(session, conversation.other(recipient.id))
    return {"other": {"name": other.name if other else ""},
            "messages": {"count": count, "latest": [m.body for m in latest],
                         "url": f"{settings.frontend_url.rstrip('/')}/messages?c={conversation.id}"}}


async def compose(session: Session, settings: Settings, to: str, template: str, context: dict[str, Any],
                  now: datetime | None = None) -> OutgoingEmail:
    """Render ``template`` for ``to``; :class:`EmailNotApplicable` when it should not be sent."""
    now = now or datetime.now(UTC)
    if template not in TEMPLATES:
        raise EmailNotApplicable(f"no template {template!r}")
    recipient = await recipient_for(session, to)
    values: dict[str, Any] = {
        "app": {"name": settings.email_sender_name, "url": settings.frontend_url.rstrip("/")},
        "recipient": {"name": recipient.name, "email": recipient.email, "timezone": recipient.timezone,
                      "role": recipient.role},
    }
    attachments: tuple[Attachment, ...] = ()
    if template == EmailTemplate.VERIFY_EMAIL:
        values["verification"] = await _verification_context(session, settings, context, now)
    if template in CREDIT_TEMPLATES:
        values.update(await _credits_context(session, settings, recipient, context, now))
    if template in MESSAGE_TEMPLATES:
        values.update(await _message_context(session, settings, recipient, context))
    if template in BOOKING_TEMPLATES:
        try:
            booking_id = uuid.UUID(str(context.get("booking_id")))
        except ValueError:
            raise EmailNotApplicable("no booking_id in the context") from None
        booking = await repository.get_booking(session, booking_id)
        if booking is None:
            raise EmailNotApplicable(f"booking {booking_id} no longer exists")
        if recipient.id is not None and recipient.id not in (booking.student_id, booking.tutor_id):
            raise EmailNotApplicable("the recipient is not a party to the booking")
        _check_moment(template, booking, context, now)
        if template == EmailTemplate.REVIEW_REQUEST:
            if recipient.id != booking.student_id:
                raise EmailNotApplicable("only the booking's student reviews it")
            if await repository.has_review(session, booking.id):
                raise EmailNotApplicable("the lesson has been reviewed already")
        values.update(await booking_context(session, settings, recipient, booking, context))
        if template == EmailTemplate.BOOKING_CONFIRMED and booking.series_id is not None:
            values["series"] = await _series_context(session, recipient, booking)
        if template in ICS_TEMPLATES:
            lesson = values["lesson"]
            attachments = (Attachment("lesson.ics", lesson_ics(
                booking_id=booking.id, start=booking.start_at, end=booking.end_at,
                summary=f"{settings.email_sender_name} lesson with {values['other']['name']}",
                description=f"{lesson['minutes']}-minute lesson. {lesson['url']}",
                url=lesson["url"], location=booking.join_url,
                sequence=await repository.count_reschedules(session, booking.id) + int(ICS_TEMPLATES[template]),
                cancelled=ICS_TEMPLATES[template], stamp=now)),)
    rendered = render(template, values)
    return OutgoingEmail(to_email=recipient.email, to_name=recipient.name, subject=rendered.subject,
                         html=rendered.html, text=rendered.text, template=template, attachments=attachments)


async def prepare(session: Session, settings: Settings, to: str, template: str,
                  context: dict[str, Any]) -> OutgoingEmail | NotSent:
    """The message to send to ``to`` (a user id or an address), or why none is sent:
    ``not_configured`` (no Brevo) or ``skipped`` (no longer applicable, or an address that
    never receives mail)."""
    if not settings.brevo_configured:
        log.info("email %s to %s not sent: Brevo is not configured (BREVO_API_KEY)", template, to)
        return NotSent.NOT_CONFIGURED
    try:
        message = await compose(session, settings, to, template, context)
    except EmailNotApplicable as exc:
        log.info("email %s to %s skipped: %s", template, to, exc)
        return NotSent.SKIPPED
    if message.to_email.lower().rstrip(".").endswith(UNDELIVERABLE_TLDS):
        log.info("email %s to %s skipped: reserved domain", template, message.to_email)
        return NotSent.SKIPPED
    return message


async def send(settings: Settings, to: str, message: OutgoingEmail) -> str:
    """Hand ``message`` to Brevo; returns its message id. Provider failures raise
    (server/providers/http.py)."""
    message_id = await brevo.send(settings, message)
    log.info("email %s sent to %s (%s)", message.template, to, message_id)
    return message_id
