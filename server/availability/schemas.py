"""Edge schemas for weekly availability, date overrides and slots."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from server.availability.slots import MINUTES_PER_DAY, SlotStatus
from server.timestamps import EARLIEST, LATEST, Timestamp
from server.tutors.schemas import MAX_LESSON_MINUTES, MIN_LESSON_MINUTES

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_RULES = 100
MAX_OVERRIDES = 1000

_HHMM = re.compile(r"^(\d{2}):(\d{2})$")


def parse_hhmm(value: str, *, allow_24: bool) -> int:
    """``"09:30"`` → 570; ``"24:00"`` (end of day) → 1440 when allowed."""
    match = _HHMM.match(value)
    if match is None:
        raise ValueError("must be a time as HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if allow_24 and hours == 24 and minutes == 0:
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError("must be a time between 00:00 and 23:59" + (" (or 24:00)" if allow_24 else ""))
    return hours * 60 + minutes


def format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _start(value: str) -> str:
    parse_hhmm(value, allow_24=False)
    return value


def _end(value: str) -> str:
    parse_hhmm(value, allow_24=True)
    return value


def _overlaps(spans: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """``(index, earlier index)`` for every ``(start, end, index)`` span overlapping an earlier one."""
    found: list[tuple[int, int]] = []
    reach: tuple[int, int] | None = None  # (end, index) of the span reaching furthest so far
    for start, end, i in sorted(spans):
        if reach is not None and start < reach[0]:
            found.append((i, reach[1]))
        if reach is None or end > reach[0]:
            reach = (end, i)
    return found


class RuleIn(BaseModel):
    """Weekly hours in the tutor's time zone."""

    model_config = ConfigDict(extra="forbid")

    weekday: StrictInt = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday.")
    start: str = Field(description="Local start, HH:MM.", examples=["09:00"])
    end: str = Field(description="Local end, HH:MM, exclusive; `24:00` is midnight at the end of the day.",
                     examples=["12:00"])

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str) -> str:
        return _start(value)

    @field_validator("end")
    @classmethod
    def _check_end(cls, value: str) -> str:
        return _end(value)

    @property
    def start_minute(self) -> int:
        return parse_hhmm(self.start, allow_24=False)

    @property
    def end_minute(self) -> int:
        return parse_hhmm(self.end, allow_24=True)


class OverrideIn(BaseModel):
    """Hours for one date that replace its weekly rules; without times, a day off."""

    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="Local date, YYYY-MM-DD.")
    start: str | None = Field(default=None, description="Local start, HH:MM; omit with `end` for a day off.")
    end: str | None = Field(default=None, description="Local end, HH:MM (`24:00` allowed).")

    @field_validator("start")
    @classmethod
    def _check_start(cls, value: str | None) -> str | None:
        return None if value is None else _start(value)

    @field_validator("end")
    @classmethod
    def _check_end(cls, value: str | None) -> str | None:
        return None if value is None else _end(value)

    @field_validator("date")
    @classmethod
    def _date_range(cls, value: dt.date) -> dt.date:
        if not EARLIEST <= value <= LATEST:
            raise ValueError(f"must be between {EARLIEST} and {LATEST}")
        return value

    @property
    def day_off(self) -> bool:
        return self.start is None and self.end is None

    @property
    def start_minute(self) -> int | None:
        return None if self.start is None else parse_hhmm(self.start, allow_24=False)

    @property
    def end_minute(self) -> int | None:
        return None if self.end is None else parse_hhmm(self.end, allow_24=True)


class AvailabilityIn(BaseModel):
    """The whole weekly schedule and every date override; ``PUT`` replaces both."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RuleIn] = Field(default_factory=list, max_length=MAX_RULES)
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=MAX_OVERRIDES)

    def problems(self) -> list[dict[str, Any]]:
        """Per-field problems the field validators cannot see: order and overlaps."""
        out: list[dict[str, Any]] = []

        def add(field: str, message: str, kind: str) -> None:
            out.append({"field": field, "message": message, "type": kind})

        by_weekday: dict[int, list[tuple[int, int, int]]] = {}
        for i, rule in enumerate(self.rules):
            if rule.start_minute >= rule.end_minute:
                add(f"body.rules.{i}.end", "must be after start", "window_order")
                continue
            by_weekday.setdefault(rule.weekday, []).append((rule.start_minute, rule.end_minute, i))
        for weekday, spans in by_weekday.items():
            for i, prev_i in _overlaps(spans):
                add(f"body.rules.{i}", f"overlaps rules.{prev_i} on {WEEKDAYS[weekday]}", "overlap")

        by_date: dict[date, list[tuple[int, int, int]]] = {}
        day_off: dict[date, int] = {}
        for i, o in enumerate(self.overrides):
            if (o.start is None) != (o.end is None):
                add(f"body.overrides.{i}", "give both start and end, or neither for a day off", "window_incomplete")
                continue
            if o.day_off:
                if o.date in day_off or o.date in by_date:
                    add(f"body.overrides.{i}", f"{o.date} is a day off and cannot have other entries", "day_off")
                day_off.setdefault(o.date, i)
                continue
            assert o.start_minute is not None and o.end_minute is not None
            if o.start_minute >= o.end_minute:
                add(f"body.overrides.{i}.end", "must be after start", "window_order")
                continue
            if o.date in day_off:
                add(f"body.overrides.{i}", f"{o.date} is a day off and cannot have other entries", "day_off")
            by_date.setdefault(o.date, []).append((o.start_minute, o.end_minute, i))
        for day, spans in by_date.items():
            for i, prev_i in _overlaps(spans):
                add(f"body.overrides.{i}", f"overlaps overrides.{prev_i} on {day}", "overlap")
        return out


class RuleOut(BaseModel):
    weekday: int
    start: str
    end: str


class OverrideOut(BaseModel):
    date: dt.date
    start: str | None = Field(default=None, description="Null (with `end`) for a day off.")
    end: str | None = None


class AvailabilityOut(BaseModel):
    rules: list[RuleOut]
    overrides: list[OverrideOut]
    version: int = Field(description="The tutor's availability version after this state.")


class SlotQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: Timestamp | None = Field(default=None, alias="from",
                                    description="Window start, ISO 8601 with offset; default now.")
    to: Timestamp | None = Field(default=None, description="Window end (exclusive); default `from` + 7 days; "
                                                          "at most SLOT_WINDOW_MAX_DAYS (31) after `from`.")
    minutes: int | None = Field(default=None, ge=MIN_LESSON_MINUTES, le=MAX_LESSON_MINUTES,
                                description="Lesson length; default the tutor's shortest.")


class SlotOut(BaseModel):
    start: datetime
    end: datetime
    status: SlotStatus
    held_until: datetime | None = Field(default=None, description="Set when `status` is `held`.")


class SlotsOut(BaseModel):
    tutor_id: uuid.UUID
    version: int = Field(description="Availability version this snapshot reflects (see `slots.changed`).")
    timezone: str = Field(description="The tutor's time zone (slots themselves are UTC).")
    minutes: int
    slots: list[SlotOut]
