"""How e-mails show times and money: in the recipient's time zone, in words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo:
    """The named zone; UTC when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_date(value: datetime, tz: ZoneInfo) -> str:
    """``Monday 15 March 2027``."""
    local = value.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B %Y}"


def format_time(value: datetime, tz: ZoneInfo) -> str:
    """``14:00``."""
    return f"{value.astimezone(tz):%H:%M}"


def format_when(start: datetime, end: datetime | None, tz: ZoneInfo) -> str:
    """``Monday 15 March 2027, 14:00–15:00 GMT (Europe/London)``."""
    local = start.astimezone(tz)
    span = format_time(start, tz) + (f"–{format_time(end, tz)}" if end is not None else "")
    return f"{format_date(start, tz)}, {span} {local.tzname()} ({tz.key})"


def format_money(cents: int, currency: str) -> str:
    """``60.00 GBP``."""
    return f"{cents / 100:,.2f} {currency.upper()}"
