"""Request and response schemas for accounts and sessions."""

from __future__ import annotations

import uuid
import zoneinfo
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

from models.user import Role

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> str:
    """Accept only IANA zone names the system knows (``Europe/Berlin``, ``UTC``)."""
    if value not in _known_zones():
        raise ValueError("must be an IANA time zone name such as 'Europe/Berlin'")
    return value


# The roles anyone may sign up with (models.user.SIGN_UP_ROLES): admins are made on the command line.
SignUpRole = Literal[Role.STUDENT, Role.TUTOR]

# Passwords are taken verbatim; names are trimmed.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(_In):
    """A new account. Admin accounts cannot be created through the API."""

    email: EmailStr = Field(max_length=320, description="Unique, compared case-insensitively.")
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH,
                          description=f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.")
    name: Name
    role: SignUpRole
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone name.")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return validate_timezone(value)


class LoginIn(_In):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)


class RefreshIn(_In):
    """For non-browser clients; browsers send nothing and rely on the ``es_refresh`` cookie."""

    refresh_token: str | None = Field(default=None, min_length=1, max_length=512)


class MeUpdate(_In):
    """Change your own display name and/or time zone; omitted fields are left as they are."""

    name: Name | None = None
    timezone: str | None = Field(default=None, max_length=64, description="IANA time zone name.")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        return None if value is None else validate_timezone(value)


class PasswordChange(_In):
    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    new_password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH,
                              description=f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.")


class VerifyEmailIn(_In):
    token: str = Field(min_length=1, max_length=200, description="The `token` parameter of the e-mailed link.")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: Role
    timezone: str
    email_verified: bool = Field(description="Whether the owner proved they read this address (the link "
                                             "e-mailed at registration, or Google sign-in).")


class AuthOut(BaseModel):
    """A signed-in session. The same tokens are also set as HttpOnly cookies."""

    user: UserOut
    access_token: str = Field(description="Short-lived JWT for 'Authorization: Bearer'.")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until access_token expires.")
    refresh_token: str = Field(description="Single-use; exchange at POST /auth/refresh for a new pair. "
                                           "Browsers can ignore it (it is also in the es_refresh cookie).")
