"""The .ics files attached to lesson e-mails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from server.emails.ics import lesson_ics


def test_ics_lines_are_crlf_escaped_and_folded_at_75_octets() -> None:
    start = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    ics = lesson_ics(booking_id=uuid.UUID(int=1), start=start, end=start + timedelta(hours=1),
                     summary="Lesson with Zoë; maths, algebra", description="é" * 100, url="https://x.test/b/1",
                     location=None, sequence=2, stamp=start).decode()
    lines = ics.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert "SUMMARY:Lesson with Zoë\\; maths\\, algebra" in lines
    assert all(len(line.encode()) <= 75 for line in lines)
    unfolded = ics.replace("\r\n ", "")
    assert "DESCRIPTION:" + "é" * 100 in unfolded
    assert "DTSTART:20270315T130000Z" in lines and "SEQUENCE:2" in lines
