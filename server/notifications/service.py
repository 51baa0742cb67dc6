"""Notification rules: the signed-in user's list and marking read.

What is stored is decided by the database (models/notification.py); here only the reading.
Marking read tells the user's other tabs (``notifications.read``) so every bell agrees.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from server.db import Session
from server.notifications import repository
from server.notifications.schemas import MarkReadIn, MarkReadOut, NotificationOut, NotificationPage, NotificationQuery
from server.outbox import emit, user_room
from server.pagination import InvalidCursor, decode_cursor, encode_cursor

READ_EVENT = "notifications.read"


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    [seq] = decode_cursor(cursor, 1)
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise InvalidCursor()
    return seq


async def list_for(session: Session, user_id: uuid.UUID, query: NotificationQuery) -> NotificationPage:
    rows = await repository.page(session, user_id, unread_only=bool(query.unread),
                                 before_seq=_before(query.cursor), limit=query.limit + 1)
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[:query.limit]
        next_cursor = encode_cursor([rows[-1].seq])
    return NotificationPage(items=[NotificationOut.of(n) for n in rows], next_cursor=next_cursor,
                            unread_count=await repository.unread_count(session, user_id))


async def mark_read(session: Session, user_id: uuid.UUID, body: MarkReadIn, now: datetime) -> MarkReadOut:
    marked = await repository.mark_read(session, user_id, body.ids if body.all is not True else None, now)
    unread = await repository.unread_count(session, user_id)
    if marked:
        await emit(session, [(READ_EVENT, user_room(user_id),
                              {"ids": [str(i) for i in marked], "unread_count": unread})])
    return MarkReadOut(marked=marked, unread_count=unread)
