"""Edge schemas of Google sign-in."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GoogleLoginQuery(BaseModel):
    role: Literal["student", "tutor"] = Field("student",
                                              description="Role of a new account (ignored for existing ones).")
    next: str = Field("/", max_length=500, description="Frontend path to return to afterwards.")
