"""``edustream emails preview --out DIR``: every template rendered to HTML (and text) with
sample data, plus an ``index.html`` linking them, to look at in a browser."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server.emails.format import format_date, format_money, format_time, format_when, zone
from server.emails.render import TEMPLATES, EmailTemplate, render
from server.settings import Settings


def sample_context(settings: Settings, template: str, timezone: str = "Europe/London") -> dict[str, Any]:
    """Plausible template variables for ``template`` (a student in ``timezone``)."""
    tz = zone(timezone)
    start = datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
    end = start + timedelta(minutes=60)
    url = settings.frontend_url.rstrip("/")
    role = "tutor" if template == EmailTemplate.WELCOME else "student"
    values: dict[str, Any] = {
        "app": {"name": settings.email_sender_name, "url": url},
        "recipient": {"name": "Sam Taylor", "email": "sam@example.com", "timezone": timezone, "role": role},
    }
    if template == EmailTemplate.WELCOME:
        return values
    if template == EmailTemplate.VERIFY_EMAIL:
        return {**values, "verification": {"url": f"{url}/verify-email?token=sample", "hours": 48}}
    if template == EmailTemplate.MESSAGE_UNREAD:
        return {**values, "other": {"name": "Amelia Hart"},
                "messages": {"count": 2, "latest": ["Hi Sam!", "Could we move Thursday's lesson to 5 pm?"],
                             "url": f"{url}/messages?c=sample"}}
    if template == EmailTemplate.CREDITS_EXPIRING:
        return {**values, "other": {"name": "Amelia Hart"},
                "credits": {"remaining": 3, "minutes": 60, "expires": format_date(start, tz),
                            "url": f"{url}/tutors/sample"}}
    values.update({
        "lesson": {"id": "3f0c…", "date": format_date(start, tz), "time": format_time(start, tz),
                   "end_time": format_time(end, tz), "when": format_when(start, end, tz), "minutes": 60,
                   "price": format_money(6000, "GBP"), "join_url": "https://zoom.us/j/81234567890?pwd=sample",
                   "url": f"{url}/bookings/sample", "timezone": timezone,
                   "review_url": f"{url}/bookings/sample#review"},
        "other": {"name": "Amelia Hart"},
        "hold": {"expires": f"{format_time(start - timedelta(days=2), tz)} GMT",
                 "checkout_url": f"{url}/bookings/sample/checkout"},
        "previous": {"when": format_when(start - timedelta(days=1), None, tz)},
        "cancel": {"by_you": False, "by_name": "Amelia Hart", "reason": "I am unwell, sorry!",
                   "refund": format_money(6000, "GBP")},
        "refund": {"amount": format_money(6000, "GBP")},
        "series": None,
    })
    return values


def sample_series(timezone: str = "Europe/London") -> dict[str, Any]:
    """A weekly series from New York seen from ``timezone``: the US changes its clocks first."""
    tz = zone(timezone)
    starts = [datetime(2027, 3, 1, 15, 0, tzinfo=UTC) + timedelta(weeks=k) for k in range(6)]
    starts = [s - timedelta(hours=1) if s >= datetime(2027, 3, 14, tzinfo=UTC) else s for s in starts]
    reference = starts[0].astimezone(tz).strftime("%H:%M")
    lessons = [{"when": format_when(s, s + timedelta(hours=1), tz),
                "clock_change": s.astimezone(tz).strftime("%H:%M") != reference} for s in starts]
    return {"lessons": lessons, "count": len(lessons), "moves": sum(1 for x in lessons if x["clock_change"]),
            "tutor_timezone": "America/New_York"}


def write_previews(settings: Settings, out: Path) -> list[Path]:
    """Render every template into ``out``; returns the files written (index first)."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows = []
    for name, purpose in TEMPLATES.items():
        rendered = render(name, sample_context(settings, name))
        (out / f"{name}.html").write_text(rendered.html)
        (out / f"{name}.txt").write_text(f"Subject: {rendered.subject}\n\n{rendered.text}")
        written += [out / f"{name}.html", out / f"{name}.txt"]
        rows.append(f'<li><a href="{name}.html">{name}</a> (<a href="{name}.txt">text</a>): '
                    f"<strong>{html.escape(rendered.subject)}</strong><br><small>{html.escape(purpose)}</small></li>")
    series = render(EmailTemplate.BOOKING_CONFIRMED,
                    {**sample_context(settings, EmailTemplate.BOOKING_CONFIRMED), "series": sample_series()})
    (out / "booking_confirmed-series.html").write_text(series.html)
    (out / "booking_confirmed-series.txt").write_text(f"Subject: {series.subject}\n\n{series.text}")
    written += [out / "booking_confirmed-series.html", out / "booking_confirmed-series.txt"]
    rows.append('<li><a href="booking_confirmed-series.html">booking_confirmed, a weekly series</a> '
                '(<a href="booking_confirmed-series.txt">text</a>): one e-mail for every lesson, the ones that '
                'move on the student\'s clock marked</li>')
    index = out / "index.html"
    index.write_text("<!doctype html><meta charset='utf-8'><title>EduStream e-mails</title>"
                     "<h1>EduStream e-mail templates</h1><ul>" + "".join(rows) + "</ul>")
    return [index, *written]
