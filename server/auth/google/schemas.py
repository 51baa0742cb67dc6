"""Edge schemas of Google sign-in."""

from __future__ import annotations

from pydantic import BaseModel, Field

from models.user import Role
from server.auth.schemas import SignUpRole


class GoogleLoginQuery(BaseModel):
    role: SignUpRole = Field(Role.STUDENT,
                                              description="Role of a new account (ignored for existing ones).")
    next: str = Field("/", max_length=500, description="Frontend path to return to afterwards.")
