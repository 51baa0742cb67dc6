"""Message rules: who may write to whom, sending, the conversation list, reading and read
receipts, and the e-mail fallback's step. SQL in :mod:`server.messages.repository`.

Who may write: a student to any tutor; a tutor to a student who has a booking with them (in
any status) or has written to them; nobody to themselves, to an admin, or as an admin. An
unknown recipient gets the same 403 ``not_allowed`` as a forbidden one, so the answer never
tells whether an account exists. The per-minute limit is a rate-limit bucket
(``MESSAGE_LIMIT_PER_MINUTE``, server/ratelimit.py), checked before the request gets here.

Live events are outbox rows written with the change: ``message.new`` ``{message}`` to the
recipient and to the sender's own room (their other tabs; the sending tab merges it by id),
``message.read`` to both users when a read marker moves.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from models.message import Conversation
from models.user import Role
from server.db import Session
from server.emails.render import EmailTemplate
from server.identity import Principal
from server.jobs import enqueue
from server.messages import repository
from server.messages.errors import ConversationNotFound, NotAllowed, NotInConversation
from server.messages.schemas import (
    ConversationOut,
    ConversationPage,
    ListQuery,
    MessageIn,
    MessageOut,
    MessagePage,
    OtherUserOut,
    ReadIn,
    ReadOut,
)
from server.outbox import emit, user_room
from server.pagination import InvalidCursor, decode_cursor, encode_cursor
from server.settings import Settings

NEW_EVENT = "message.new"
READ_EVENT = "message.read"
# The e-mail fallback looks this far back past MESSAGE_EMAIL_AFTER_SECONDS: a message read
# in time is never marked, and the sweep must not rescan every old read message forever.
EMAIL_HORIZON = timedelta(days=1)


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    [seq] = decode_cursor(cursor, 1)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidCursor()
    return seq


async def _check_may_write(session: Session, sender: Principal, to_user_id: uuid.UUID) -> None:
    if to_user_id == sender.id:
        raise NotAllowed("You cannot write to yourself.", details={"reason": "self"})
    recipient = await repository.get_user(session, to_user_id)
    if sender.role == Role.STUDENT:
        if recipient is None or recipient.role != Role.TUTOR:
            raise NotAllowed("Students can write to tutors only.", details={"reason": "not_a_tutor"})
        return
    if sender.role == Role.TUTOR and recipient is not None and recipient.role == Role.STUDENT:
        if await repository.has_booked(session, recipient.id, sender.id) \
                or await repository.has_written(session, recipient.id, sender.id):
            return
        raise NotAllowed("You can write to a student once they have booked you or written to you.",
                         details={"reason": "no_contact"})
    raise NotAllowed(details={"reason": "not_a_student" if sender.role == Role.TUTOR else "role"})


async def send(session: Session, sender: Principal, body: MessageIn, now: datetime) -> MessageOut:
    """Send a message (403 ``not_allowed`` when the sender may not write to that user)."""
    await _check_may_write(session, sender, body.to_user_id)
    conversation_id = await repository.conversation_of_pair(session, sender.id, body.to_user_id, now)
    message = await repository.add_message(session, conversation_id, sender.id, body.to_user_id, body.body, now)
    out = MessageOut.of(message, await repository.user_name(session, sender.id))
    payload = {"message": out.model_dump(mode="json")}
    await emit(session, [(NEW_EVENT, user_room(body.to_user_id), payload), (NEW_EVENT, user_room(sender.id), payload)])
    return out


async def list_conversations(session: Session, user_id: uuid.UUID, query: ListQuery) -> ConversationPage:
    rows = await repository.page_conversations(session, user_id, _before(query.cursor), query.limit + 1)
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[:query.limit]
        next_cursor = encode_cursor([rows[-1].conversation.last_seq])
    items = [ConversationOut(id=r.conversation.id,
                             other_user=OtherUserOut(id=r.other_id, name=r.other_name, role=Role(r.other_role)),
                             last_message=MessageOut.of(r.last) if r.last is not None else None, unread=r.unread,
                             other_read_up_to_message_id=r.seen_id)
             for r in rows]
    return ConversationPage(items=items, next_cursor=next_cursor,
                            unread_total=await repository.unread_total(session, user_id))


async def _conversation_of(session: Session, user_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    conversation = await repository.get_conversation(session, conversation_id)
    if conversation is None or user_id not in (conversation.user_low_id, conversation.user_high_id):
        raise ConversationNotFound()
    return conversation


async def list_messages(session: Session, user_id: uuid.UUID, conversation_id: uuid.UUID,
                        query: ListQuery) -> MessagePage:
    """A conversation's messages, newest first; 404 for anyone but its two users."""
    await _conversation_of(session, user_id, conversation_id)
    rows = list(await repository.page_messages(session, conversation_id, _before(query.cursor), query.limit + 1))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[:query.limit]
        next_cursor = encode_cursor([rows[-1].seq])
    return MessagePage(items=[MessageOut.of(m) for m in rows], next_cursor=next_cursor)


async def mark_read(session: Session, user_id: uuid.UUID, conversation_id: uuid.UUID, body: ReadIn,
                    now: datetime) -> ReadOut:
    """Mark every message up to ``up_to_message_id`` read. The marker only moves forward; when
    it moves, both users get ``message.read``. 404 for anyone but the two users."""
    conversation = await _conversation_of(session, user_id, conversation_id)
    message = await repository.message_in(session, conversation_id, body.up_to_message_id)
    if message is None:
        raise NotInConversation(details=[{"field": "body.up_to_message_id",
                                          "message": "not a message of this conversation"}])
    moved = await repository.advance_read(session, conversation, user_id, message.seq)
    if moved:
        payload = {"conversation_id": str(conversation_id), "reader_id": str(user_id),
                   "up_to_message_id": str(message.id), "read_at": now.isoformat()}
        await emit(session, [(READ_EVENT, user_room(user_id), payload),
                             (READ_EVENT, user_room(conversation.other(user_id)), payload)])
    return ReadOut(conversation_id=conversation_id, unread=await repository.unread_in(session, conversation_id, user_id),
                   unread_total=await repository.unread_total(session, user_id), moved=moved)


async def email_unread(session: Session, settings: Settings, now: datetime, batch: int) -> int:
    """The e-mail fallback's step: one ``message_unread`` e-mail per (conversation, recipient)
    with a message unread for ``MESSAGE_EMAIL_AFTER_SECONDS``, claimed (``emailed_at``) in this
    transaction, so each unread batch is e-mailed at most once. Returns how many were claimed."""
    cutoff = now - timedelta(seconds=settings.message_email_after_seconds)
    due = await repository.claim_email_due(session, cutoff, cutoff - EMAIL_HORIZON, now, batch)
    if settings.brevo_configured:
        for d in due:
            enqueue(session, settings, "email.send", str(d.recipient_id), EmailTemplate.MESSAGE_UNREAD,
                    {"conversation_id": str(d.conversation_id)})
    return len(due)
