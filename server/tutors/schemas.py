"""Edge schemas for tutor profiles and discovery."""

from __future__ import annotations

import re
import unicodedata
import uuid
from enum import StrEnum
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from models.base import INT4_MAX

MAX_RATE_CENTS = 100_000_00
MAX_SUBJECTS = 10
MAX_LESSON_LENGTHS = 8
MIN_LESSON_MINUTES = 15
MAX_LESSON_MINUTES = 240

# Stripe's minimum charge per currency, in minor units (docs.stripe.com/currencies, "Minimum and
# maximum charge amounts"); a smaller PaymentIntent is refused, so such a lesson could never be paid.
# Another currency gets Stripe's floor of 50 minor units (its rule is "USD 0.50 or the equivalent";
# a conversion rate is not ours to guess).
MIN_CHARGE_MINOR_UNITS = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500, "DKK": 250,
    "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000, "MYR": 200, "NOK": 300,
    "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000,
}
DEFAULT_MIN_CHARGE_MINOR_UNITS = 50

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(name: str) -> bool:
    """True for an IANA time zone name known to ``zoneinfo`` (e.g. ``Europe/Berlin``)."""
    return name in _zones()


def lesson_price(rate_cents: int, minutes: int) -> int:
    """A lesson's price in minor units, rounded half up (the rule bookings charge by)."""
    return (rate_cents * minutes + 30) // 60


def slugify(name: str) -> str:
    """``"Computer Science"`` → ``"computer-science"``; accents folded, punctuation collapsed."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _SLUG_STRIP.sub("-", folded).strip("-")


class TutorSort(StrEnum):
    """The order of a tutor listing (ties by id)."""

    RATING = "rating"  # best first
    PRICE = "price"  # cheapest first


def clean_subject_name(name: str) -> str:
    return " ".join(name.split())


class TrialIn(BaseModel):
    """The one trial lesson a tutor offers: a student's first lesson with them, once."""

    model_config = ConfigDict(extra="forbid")

    minutes: StrictInt = Field(description="The trial's length: one of the profile's `lesson_minutes`.")
    price_cents: StrictInt = Field(ge=0, le=MAX_RATE_CENTS,
                                   description="0 (free), or at least the payment provider's minimum charge "
                                               "in the profile's currency.")


class TrialOut(BaseModel):
    minutes: int
    price_cents: int


class TutorProfileIn(BaseModel):
    """A tutor's own profile; ``PUT`` replaces it whole (omitted optional fields take defaults)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    headline: str = Field(min_length=1, max_length=200, description="One line shown in search results.")
    bio: str = Field(default="", max_length=5000)
    subjects: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=MAX_SUBJECTS,
        description="1–10 subject names; stored as slugs (`Computer Science` → `computer-science`).")
    currency: str = Field(default="USD", description="ISO 4217 code, three uppercase letters.")
    timezone: str = Field(description="IANA time zone of the weekly hours, e.g. `America/New_York`.")
    lesson_minutes: list[StrictInt] = Field(
        min_length=1, max_length=MAX_LESSON_LENGTHS,
        description="Offered lesson lengths: each 15–240 and a multiple of 5, no duplicates; stored sorted.")
    # After currency and lesson_minutes: its check reads both.
    hourly_rate_cents: StrictInt = Field(
        ge=0, le=MAX_RATE_CENTS,
        description="Price of 60 minutes, minor units. 0 (free), or enough that the shortest lesson costs at "
                    "least the payment provider's minimum charge in the currency (USD/EUR 50, GBP 30, …).")
    min_notice_minutes: StrictInt = Field(default=0, ge=0, le=30 * 24 * 60,
                                          description="No slot starts sooner than this after now.")
    buffer_minutes: StrictInt = Field(default=0, ge=0, le=240, description="Kept free after every lesson.")
    max_advance_days: StrictInt = Field(default=60, ge=1, le=365,
                                        description="No slot starts later than this many days after now.")
    # After lesson_minutes and currency: its check reads both.
    trial: TrialIn | None = Field(default=None, description="The trial lesson you offer, or null for none "
                                                            "(omitting it withdraws the offer).")

    @field_validator("trial")
    @classmethod
    def _trial(cls, value: TrialIn | None, info: ValidationInfo) -> TrialIn | None:
        lengths, currency = info.data.get("lesson_minutes"), info.data.get("currency")
        if value is None or not lengths or not currency:
            return value
        if value.minutes not in lengths:
            raise ValueError(f"the trial's length must be one of your lesson lengths ({lengths})")
        minimum = MIN_CHARGE_MINOR_UNITS.get(currency, DEFAULT_MIN_CHARGE_MINOR_UNITS)
        if 0 < value.price_cents < minimum:
            raise ValueError(f"a paid trial must cost at least the minimum charge of {minimum} {currency} "
                             f"minor units; use 0 for a free trial")
        return value

    @field_validator("subjects")
    @classmethod
    def _subjects(cls, value: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for name in value:
            slug = slugify(name)
            if not slug:
                raise ValueError(f"subject {name!r} has no letters or digits")
            if len(slug) > 64:
                raise ValueError(f"subject {name!r} is too long")
            seen.setdefault(slug, clean_subject_name(name))
        return list(seen.values())

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.match(value):
            raise ValueError("must be an ISO 4217 code of three uppercase letters, e.g. USD")
        return value

    @field_validator("hourly_rate_cents")
    @classmethod
    def _payable_rate(cls, value: int, info: ValidationInfo) -> int:
        lengths, currency = info.data.get("lesson_minutes"), info.data.get("currency")
        if value == 0 or not lengths or not currency:
            return value  # free, or the other fields are already wrong
        minimum = MIN_CHARGE_MINOR_UNITS.get(currency, DEFAULT_MIN_CHARGE_MINOR_UNITS)
        shortest = min(lengths)
        if lesson_price(value, shortest) < minimum:
            needed = -(-(60 * minimum - 30) // shortest)  # the least rate whose price reaches it
            raise ValueError(f"a {shortest}-minute lesson would cost {lesson_price(value, shortest)} {currency} "
                             f"minor units, under the minimum charge of {minimum}: use at least {needed}, "
                             f"or 0 for free lessons")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if not is_timezone(value):
            raise ValueError("must be an IANA time zone name such as Europe/Berlin")
        return value

    @field_validator("lesson_minutes")
    @classmethod
    def _lesson_minutes(cls, value: list[int]) -> list[int]:
        for minutes in value:
            if not MIN_LESSON_MINUTES <= minutes <= MAX_LESSON_MINUTES or minutes % 5:
                raise ValueError(f"{minutes} is not a lesson length: use {MIN_LESSON_MINUTES} to "
                                 f"{MAX_LESSON_MINUTES} minutes in steps of 5")
        if len(set(value)) != len(value):
            raise ValueError("lesson lengths must not repeat")
        return sorted(value)

    @property
    def subject_slugs(self) -> dict[str, str]:
        """``slug -> display name`` for the (already de-duplicated) subjects."""
        return {slugify(name): name for name in self.subjects}


class TutorOut(BaseModel):
    """A tutor's public profile."""

    id: uuid.UUID = Field(description="The tutor's user id (`tutor_id` everywhere).")
    name: str
    headline: str
    bio: str
    subjects: list[str] = Field(description="Subject slugs, sorted.")
    hourly_rate_cents: int
    currency: str
    timezone: str
    lesson_minutes: list[int]
    min_notice_minutes: int
    buffer_minutes: int
    max_advance_days: int
    rating: float = Field(description="The mean of the tutor's reviews, 1–5 (0 while unreviewed); computed from "
                                      "reviews, never set by hand.")
    rating_count: int = Field(description="How many (visible) reviews the rating is computed from.")
    trial: TrialOut | None = Field(default=None, description="The trial lesson offered (book it with "
                                                             "`POST /holds` `trial: true`), or null.")
    has_avatar: bool = Field(default=False, description="Whether `GET /tutors/{id}/avatar` has an image to show "
                                                        "(otherwise show initials).")


class TutorPage(BaseModel):
    items: list[TutorOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end.")


class TutorQuery(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    subject: str | None = Field(default=None, max_length=100, description="A subject slug or name.")
    q: str | None = Field(default=None, max_length=100,
                          description="Case-insensitive text in name, headline, bio or subject names.")
    max_rate_cents: int | None = Field(
        default=None, ge=0, le=INT4_MAX,
        description="Hourly rate at most this, in minor units of `currency`. Pass `currency` with it: "
        "without one, bare amounts are compared across currencies (kept for first-version clients).")
    currency: str | None = Field(
        default=None, description="ISO 4217 code: only tutors charging in this currency are listed and "
        "compared with `max_rate_cents`; rates are never converted between currencies.")
    sort: TutorSort = Field(default=TutorSort.RATING,
                            description="`rating` (best first, by a Bayesian average: every tutor counts 5 "
                                        "imaginary reviews of 4.0, so a few reviews move a tutor less than many) "
                                        "or `price` (cheapest first).")
    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=100)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not _CURRENCY.match(value):
            raise ValueError("must be an ISO 4217 code of three uppercase letters, e.g. USD")
        return value


class SubjectOut(BaseModel):
    slug: str
    name: str
    tutors: int = Field(description="How many active tutors teach it.")


class SubjectList(BaseModel):
    items: list[SubjectOut] = Field(description="Subjects taught by at least one active tutor, sorted by name.")
