"""The tutor profile rows avatars read and write."""

from __future__ import annotations

import uuid

from models.tutor import TutorProfile
from server.db import Session


async def get_profile(session: Session, tutor_id: uuid.UUID) -> TutorProfile | None:
    """The tutor's profile."""
    return await session.get(TutorProfile, tutor_id)


async def lock_profile(session: Session, tutor_id: uuid.UUID) -> TutorProfile | None:
    """The tutor's profile, locked for update."""
    return await session.get(TutorProfile, tutor_id, with_for_update=True)
