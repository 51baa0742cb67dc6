"""Ending a user's live (``/live``) connections when their sign-in is revoked.

A service that revokes a user's sessions (sign-out, refresh-token family revocation, password
change, suspension) calls :func:`end_live_sessions` with its session, in the same transaction.
That records a ``session.revoked`` outbox row for the user's room: it is published only if
the revocation commits, and the relay delivers it to every API process, each of which sends
it to the user's connections and then disconnects them (``realtime/manager.py``). See
docs/live.md, "Sessions".
"""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import select

from models.user import RefreshToken
from server import outbox
from server.db import Session

#: The outbox event (and the event the client receives before it is disconnected).
SESSION_REVOKED = "session.revoked"


class RevokedBecause(enum.StrEnum):
    """Why a user's live connections were closed (the ``reason`` the client sees)."""

    SIGNED_OUT = "signed_out"
    SESSION_REVOKED = "session_revoked"
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_SUSPENDED = "account_suspended"


_MESSAGES = {
    RevokedBecause.SIGNED_OUT: "You signed out; sign in again to reconnect.",
    RevokedBecause.SESSION_REVOKED: "This sign-in was revoked; sign in again to reconnect.",
    RevokedBecause.PASSWORD_CHANGED: "The password changed; sign in again to reconnect.",
    RevokedBecause.ACCOUNT_SUSPENDED: "The account is suspended.",
}


async def end_live_sessions(session: Session, user_id: uuid.UUID,
                            reason: RevokedBecause = RevokedBecause.SESSION_REVOKED) -> None:
    """Close every live connection of ``user_id``, in every API process, once this transaction commits."""
    await outbox.emit(session, [(SESSION_REVOKED, outbox.user_room(user_id), _payload(user_id, reason))])


def _payload(user_id: uuid.UUID, reason: RevokedBecause) -> dict[str, str]:
    return {"user_id": str(user_id), "reason": reason.value, "message": _MESSAGES[reason]}


async def end_family_live_sessions(session: Session, family_id: uuid.UUID,
                                   reason: RevokedBecause = RevokedBecause.SESSION_REVOKED) -> None:
    """Close the live connections opened with one sign-in (refresh-token family ``family_id``:
    the access token's ``sid``), in every API process, once this transaction commits. Connections
    whose token names no sign-in (issued outside one) are closed with all of their user's."""
    user_id = await session.scalar(select(RefreshToken.user_id).where(RefreshToken.family_id == family_id).limit(1))
    if user_id is not None:
        await outbox.emit(session, [(SESSION_REVOKED, outbox.sign_in_room(family_id), _payload(user_id, reason))])


async def end_other_live_sessions(session: Session, user_id: uuid.UUID, keep: uuid.UUID | None,
                                  reason: RevokedBecause) -> None:
    """Close every live connection of ``user_id`` except those of sign-in ``keep`` (all of them
    when ``keep`` is None)."""
    if keep is None:
        await end_live_sessions(session, user_id, reason)
        return
    families = await session.scalars(select(RefreshToken.family_id).where(
        RefreshToken.user_id == user_id, RefreshToken.family_id != keep).distinct())
    events = [(SESSION_REVOKED, outbox.sign_in_room(f), _payload(user_id, reason)) for f in families]
    if events:
        await outbox.emit(session, events)
