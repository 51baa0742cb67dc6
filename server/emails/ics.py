"""iCalendar (RFC 5545) files for lesson e-mails: one VEVENT per booking, UID stable per
booking so calendar apps update (reschedule, higher SEQUENCE) or remove (METHOD:CANCEL) it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

PRODID = "-//EduStream//Lessons//EN"


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# Control characters RFC 5545 forbids in a value (HTAB is allowed; line breaks are handled first).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Every line break a user's text may hold: CRLF, a lone CR, LF, and Unicode's own separators.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]")


def _escape(text: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, every kind of line break as ``\\n``
    (a bare CR would otherwise end the content line in some parsers), other controls dropped."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROL.sub("", _LINE_BREAK.sub("\\\\n", text))


def _uri(value: str) -> str:
    """A URI value cannot be escaped: drop anything that could end or break the line."""
    return _CONTROL.sub("", _LINE_BREAK.sub("", value))


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    raw = line.encode()
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    start = 0
    limit = 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            end -= 1
        parts.append(raw[start:end].decode())
        start = end
        limit = 74  # continuation lines begin with a space
    return "\r\n ".join(parts)


def lesson_ics(*, booking_id: uuid.UUID, start: datetime, end: datetime, summary: str, description: str,
               url: str | None, location: str | None, sequence: int = 0, cancelled: bool = False,
               stamp: datetime | None = None) -> bytes:
    """The ``.ics`` bytes for one lesson."""
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancelled else 'PUBLISH'}",
        "BEGIN:VEVENT",
        f"UID:booking-{booking_id}@edustream",
        f"DTSTAMP:{_utc(stamp or datetime.now(UTC))}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SEQUENCE:{sequence}",
        f"SUMMARY:{_escape(summary)}",
        f"DESCRIPTION:{_escape(description)}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
    ]
    if url:
        lines.append(f"URL:{_uri(url)}")
    if location:
        lines.append(f"LOCATION:{_escape(location)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()
