"""Tutor errors, shared by every domain that looks a tutor up (availability, bookings, live)."""

from __future__ import annotations

from server.errors import NotFound


class TutorNotFound(NotFound):
    message = "No such tutor."


class ProfileNotFound(NotFound):
    code = "profile_not_found"
    message = "You have no tutor profile yet; create it with PUT /api/v1/tutors/me."
