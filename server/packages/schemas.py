"""Edge schemas for lesson packages, their purchases and the credits they carry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from models.base import INT4_MAX
from models.booking import PaymentProvider
from models.package import MAX_PACKAGE_LESSONS, MAX_PACKAGES_PER_TUTOR, LessonPackage, PackagePurchase, PurchaseStatus


class PackageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lessons: StrictInt = Field(ge=2, le=MAX_PACKAGE_LESSONS, description="How many lessons the package holds.")
    minutes: StrictInt = Field(ge=15, le=480, description="The length of each lesson: one of your `lesson_minutes`.")
    price_cents: StrictInt = Field(ge=1, le=INT4_MAX, description="The price of the whole package, in your "
                                                                 "profile's currency; at least the payment "
                                                                 "provider's minimum charge (USD/EUR 50, GBP 30, …).")


class PackagesIn(BaseModel):
    """The packages you offer from now on: the ones left out are no longer sold (credits bought
    earlier stay valid); an unchanged one keeps its id."""

    model_config = ConfigDict(extra="forbid")

    packages: list[PackageIn] = Field(max_length=MAX_PACKAGES_PER_TUTOR)

    @field_validator("packages")
    @classmethod
    def _distinct(cls, value: list[PackageIn]) -> list[PackageIn]:
        terms = [(p.lessons, p.minutes, p.price_cents) for p in value]
        if len(set(terms)) != len(terms):
            raise ValueError("each package must differ from the others")
        return value


class PackageOut(BaseModel):
    id: uuid.UUID
    tutor_id: uuid.UUID
    lessons: int
    minutes: int
    price_cents: int = Field(description="The price of the whole package.")
    currency: str

    @classmethod
    def of(cls, package: LessonPackage) -> PackageOut:
        return cls(id=package.id, tutor_id=package.tutor_id, lessons=package.lessons, minutes=package.minutes,
                   price_cents=package.price_cents, currency=package.currency)


class PackageList(BaseModel):
    items: list[PackageOut]
    next_cursor: str | None = Field(default=None, description="Always null: a tutor offers at most "
                                                              f"{MAX_PACKAGES_PER_TUTOR} packages.")


class PurchaseOut(BaseModel):
    id: uuid.UUID
    package_id: uuid.UUID
    tutor_id: uuid.UUID
    student_id: uuid.UUID
    lessons: int
    minutes: int
    price_cents: int
    currency: str
    status: PurchaseStatus = Field(description="`pending` until the payment succeeds, then `paid` (credits "
                                               "granted, once); `failed` after a failed attempt.")
    remaining: int = Field(description="Credits left to spend (0 until paid).")
    expires_at: datetime | None = Field(default=None, description="When the credits expire (CREDIT_EXPIRY_MONTHS "
                                                                  "after the payment); null until paid.")
    created_at: datetime

    @classmethod
    def of(cls, purchase: PackagePurchase) -> PurchaseOut:
        return cls(id=purchase.id, package_id=purchase.package_id, tutor_id=purchase.tutor_id,
                   student_id=purchase.student_id, lessons=purchase.lessons, minutes=purchase.minutes,
                   price_cents=purchase.price_cents, currency=purchase.currency, status=purchase.status,
                   remaining=purchase.remaining, expires_at=purchase.expires_at, created_at=purchase.created_at)


class PurchasePaymentOut(BaseModel):
    provider: PaymentProvider
    client_secret: str | None = None
    publishable_key: str | None = None


class PurchaseCheckoutOut(BaseModel):
    purchase_id: uuid.UUID
    purchase: PurchaseOut
    payment: PurchasePaymentOut


class TestPurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purchase_id: uuid.UUID


class CreditOut(BaseModel):
    """One paid package's unexpired credits."""

    purchase_id: uuid.UUID
    tutor_id: uuid.UUID
    tutor_name: str
    minutes: int = Field(description="The lesson length the credits pay for.")
    lessons: int = Field(description="How many lessons the package held.")
    remaining: int
    expires_at: datetime

    @classmethod
    def of(cls, row: Any) -> CreditOut:
        return cls(purchase_id=row.id, tutor_id=row.tutor_id, tutor_name=row.tutor_name, minutes=row.minutes,
                   lessons=row.lessons, remaining=row.remaining, expires_at=row.expires_at)


class CreditList(BaseModel):
    items: list[CreditOut] = Field(description="Soonest to expire first.")
    next_cursor: str | None = Field(default=None, description="Always null: every unexpired credit is listed.")


class CreditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tutor_id: uuid.UUID | None = Field(default=None, description="Only credits with this tutor.")
