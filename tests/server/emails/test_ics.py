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


def test_a_lone_cr_or_any_line_break_cannot_end_a_line_or_inject_a_property() -> None:
    start = datetime(2027, 3, 15, 13, 0, tzinfo=UTC)
    ics = lesson_ics(booking_id=uuid.UUID(int=1), start=start, end=start + timedelta(hours=1),
                     summary="Maths\rATTENDEE:mailto:evil@x.test", description="one\r\ntwo\rthree\nfour\u2028five",
                     url="https://x.test/b/1\r\nORGANIZER:mailto:evil@x.test", location="Room\r1\x00", stamp=start)
    text = ics.decode()
    assert "\r" not in text.replace("\r\n", "") and "\n" not in text.replace("\r\n", "")
    lines = text.replace("\r\n ", "").split("\r\n")
    assert "SUMMARY:Maths\\nATTENDEE:mailto:evil@x.test" in lines
    assert "DESCRIPTION:one\\ntwo\\nthree\\nfour\\nfive" in lines
    assert "LOCATION:Room\\n1" in lines
    assert "URL:https://x.test/b/1ORGANIZER:mailto:evil@x.test" in lines
    assert not any(line.startswith(("ATTENDEE", "ORGANIZER")) for line in lines)
