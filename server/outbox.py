"""Recording live events in the transaction that causes them (the transactional outbox).

Every change that watchers must see bumps the tutor's availability ``version`` by exactly
one and inserts outbox rows in the same transaction. The realtime relay publishes rows
after commit (it is woken through :func:`add_listener`) and re-scans for stragglers, so
a rollback publishes nothing and a crash between commit and publish loses nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text

from server.db import Session

_listeners: list[Callable[[], None]] = []


def add_listener(callback: Callable[[], None]) -> None:
    """Call ``callback`` (synchronously, cheaply) after every commit that wrote outbox rows."""
    _listeners.append(callback)


def remove_listener(callback: Callable[[], None]) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


async def _wake() -> None:
    for callback in list(_listeners):
        callback()


def tutor_room(tutor_id: uuid.UUID | str) -> str:
    return f"tutor:{tutor_id}"


def user_room(user_id: uuid.UUID | str) -> str:
    return f"user:{user_id}"


def sign_in_room(session_id: uuid.UUID | str) -> str:
    """The connections opened with one sign-in (the access token's ``sid``, a refresh-token family)."""
    return f"signin:{session_id}"


async def bump_version(session: Session, tutor_id: uuid.UUID) -> int:
    """Increment and return the tutor's availability version (row-locked until commit)."""
    result = await session.execute(
        text("INSERT INTO tutor_versions (tutor_id, version) VALUES (:t, 1) "
             "ON CONFLICT (tutor_id) DO UPDATE SET version = tutor_versions.version + 1 RETURNING version"),
        {"t": tutor_id},
    )
    return int(result.scalar_one())


Message = tuple[str, str, dict[str, Any]]


def _messages_param(messages: Sequence[Message]) -> str:
    return _json([{"ord": i, "event": e, "room": r, "payload": p} for i, (e, r, p) in enumerate(messages)])


def wake_after_commit(session: Session) -> None:
    """Wake the outbox relay once this unit of work has committed (rows written elsewhere)."""
    session.after_commit(_wake, key=_wake)


async def emit(session: Session, messages: Sequence[Message]) -> None:
    """Insert outbox rows ``(event, room, payload)`` that carry no version (personal events)."""
    if not messages:
        return
    await session.execute(
        text("INSERT INTO outbox (event, room, payload) SELECT m.event, m.room, m.payload "
             "FROM jsonb_to_recordset(CAST(:messages AS jsonb)) AS m(ord int, event text, room text, payload jsonb) "
             "ORDER BY m.ord"),
        {"messages": _messages_param(messages)},
    )
    wake_after_commit(session)


async def slots_changed(session: Session, tutor_id: uuid.UUID, changes: list[dict[str, Any]],
                        extra: Sequence[Message] = (), *, resync: bool = False) -> int:
    """Bump the tutor's version and record ``slots.changed`` (plus ``extra`` messages), in one
    statement. Returns the new version."""
    payload: dict[str, Any] = {"tutor_id": str(tutor_id), "version": 0, "changes": changes}
    if resync:
        payload["resync"] = True
    messages = [("slots.changed", tutor_room(tutor_id), payload), *extra]
    result = await session.execute(
        text("WITH v AS (INSERT INTO tutor_versions (tutor_id, version) VALUES (:t, 1) "
             "  ON CONFLICT (tutor_id) DO UPDATE SET version = tutor_versions.version + 1 RETURNING version) "
             "INSERT INTO outbox (tutor_id, version, event, room, payload) "
             "SELECT CASE WHEN m.event = 'slots.changed' THEN CAST(:t AS uuid) END, "
             "       CASE WHEN m.event = 'slots.changed' THEN v.version END, m.event, m.room, "
             "       CASE WHEN m.event = 'slots.changed' THEN jsonb_set(m.payload, '{version}', to_jsonb(v.version)) "
             "            ELSE m.payload END "
             "FROM v, jsonb_to_recordset(CAST(:messages AS jsonb)) AS m(ord int, event text, room text, payload jsonb) "
             "ORDER BY m.ord RETURNING version"),
        {"t": tutor_id, "messages": _messages_param(messages)},
    )
    version = max(int(v) for v in result.scalars().all() if v is not None)
    wake_after_commit(session)
    return version


def _json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))
