"""Messages' SQL: who may write to whom, the conversation of a pair, pages, read markers and
the e-mail fallback's claim.

A message is unread by its recipient while its ``seq`` is above the recipient's read marker
(``UNREAD_SQL``): every count and the e-mail sweep use that one condition.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, text

from models.booking import Booking
from models.message import Conversation, Message
from models.user import User
from server.db import Session

# The recipient's marker of message ``m`` in conversation ``c``.
_MARKER_SQL = "CASE WHEN m.recipient_id = c.user_low_id THEN c.low_read_seq ELSE c.high_read_seq END"
UNREAD_SQL = f"(m.seq > {_MARKER_SQL})"


@dataclass(frozen=True, slots=True)
class ConversationRow:
    conversation: Conversation
    other_id: uuid.UUID
    other_name: str
    other_role: str
    last: Message | None
    unread: int
    seen_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class EmailDue:
    conversation_id: uuid.UUID
    recipient_id: uuid.UUID
    count: int


async def get_user(session: Session, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def user_name(session: Session, user_id: uuid.UUID) -> str | None:
    return await session.scalar(select(User.name).where(User.id == user_id))


async def has_booked(session: Session, student_id: uuid.UUID, tutor_id: uuid.UUID) -> bool:
    """Whether the student has (or had) a booking with the tutor, in any status."""
    return bool(await session.scalar(select(exists().where(Booking.student_id == student_id,
                                                           Booking.tutor_id == tutor_id))))


async def has_written(session: Session, sender_id: uuid.UUID, recipient_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(Message.sender_id == sender_id,
                                                           Message.recipient_id == recipient_id))))


async def conversation_of_pair(session: Session, a: uuid.UUID, b: uuid.UUID, now: datetime) -> uuid.UUID:
    """The pair's conversation, created if needed, and row-locked until commit: one per pair
    however many first messages race (the unique pair), and one conversation's messages get
    their ``seq`` in commit order."""
    low, high = sorted((a, b))
    result = await session.execute(
        text("INSERT INTO conversations (id, user_low_id, user_high_id, last_message_at) "
             "VALUES (:id, :low, :high, :now) ON CONFLICT ON CONSTRAINT uq_conversations_pair "
             "DO UPDATE SET last_message_at = GREATEST(conversations.last_message_at, EXCLUDED.last_message_at) "
             "RETURNING id"),
        {"id": uuid.uuid4(), "low": low, "high": high, "now": now})
    return uuid.UUID(str(result.scalar_one()))


async def add_message(session: Session, conversation_id: uuid.UUID, sender_id: uuid.UUID,
                      recipient_id: uuid.UUID, body: str, now: datetime) -> Message:
    """Store a message and make it the conversation's latest."""
    message = Message(id=uuid.uuid4(), conversation_id=conversation_id, sender_id=sender_id,
                      recipient_id=recipient_id, body=body, sent_at=now)
    session.add(message)
    await session.flush()
    await session.refresh(message, ["seq"])
    await session.execute(text("UPDATE conversations SET last_seq = GREATEST(last_seq, :seq) WHERE id = :id"),
                          {"seq": message.seq, "id": conversation_id})
    return message


async def page_conversations(session: Session, user_id: uuid.UUID, before_seq: int | None,
                             limit: int) -> list[ConversationRow]:
    """The user's conversations with at least one message, most recent first."""
    rows = (await session.execute(
        text("SELECT c.id, u.id AS other_id, u.name AS other_name, u.role AS other_role, "
             "  (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.recipient_id = :me "
             f"    AND {UNREAD_SQL}) AS unread, "
             "  (SELECT r.id FROM messages r WHERE r.conversation_id = c.id AND r.sender_id = :me AND r.seq <= "
             "     CASE WHEN c.user_low_id = :me THEN c.high_read_seq ELSE c.low_read_seq END "
             "   ORDER BY r.seq DESC LIMIT 1) AS seen_id "
             "FROM conversations c "
             "JOIN users u ON u.id = CASE WHEN c.user_low_id = :me THEN c.user_high_id ELSE c.user_low_id END "
             "WHERE (c.user_low_id = :me OR c.user_high_id = :me) AND c.last_seq > 0 "
             "  AND (CAST(:before AS bigint) IS NULL OR c.last_seq < :before) "
             "ORDER BY c.last_seq DESC LIMIT :limit"),
        {"me": user_id, "before": before_seq, "limit": limit})).all()
    if not rows:
        return []
    conversations = {c.id: c for c in (await session.scalars(
        select(Conversation).where(Conversation.id.in_([r.id for r in rows])))).all()}
    lasts = {m.conversation_id: m for m in (await session.scalars(
        select(Message).where(Message.seq.in_([conversations[r.id].last_seq for r in rows])))).all()}
    return [ConversationRow(conversations[r.id], r.other_id, r.other_name, r.other_role, lasts.get(r.id),
                            int(r.unread), r.seen_id) for r in rows]


async def unread_total(session: Session, user_id: uuid.UUID) -> int:
    """The user's unread messages in all conversations."""
    return int(await session.scalar(
        text("SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
             f"WHERE m.recipient_id = :me AND {UNREAD_SQL}"), {"me": user_id}) or 0)


async def unread_in(session: Session, conversation_id: uuid.UUID, user_id: uuid.UUID) -> int:
    return int(await session.scalar(
        text("SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id "
             f"WHERE m.conversation_id = :c AND m.recipient_id = :me AND {UNREAD_SQL}"),
        {"c": conversation_id, "me": user_id}) or 0)


async def get_conversation(session: Session, conversation_id: uuid.UUID) -> Conversation | None:
    return await session.get(Conversation, conversation_id, populate_existing=True)


async def page_messages(session: Session, conversation_id: uuid.UUID, before_seq: int | None,
                        limit: int) -> Sequence[Message]:
    """The conversation's messages, newest first, older than ``before_seq`` when given."""
    stmt = (select(Message).where(Message.conversation_id == conversation_id)
            .order_by(Message.seq.desc()).limit(limit))
    if before_seq is not None:
        stmt = stmt.where(Message.seq < before_seq)
    return (await session.scalars(stmt)).all()


async def message_in(session: Session, conversation_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id,
                                                      Message.conversation_id == conversation_id))


async def advance_read(session: Session, conversation: Conversation, user_id: uuid.UUID, seq: int) -> bool:
    """Move the user's read marker forward to ``seq``; never back. Whether it moved (the
    condition is re-checked under the row lock, so concurrent calls cannot move it back)."""
    column = "low_read_seq" if user_id == conversation.user_low_id else "high_read_seq"
    result = await session.execute(
        text(f"UPDATE conversations SET {column} = GREATEST({column}, :seq) WHERE id = :id AND {column} < :seq "
             "RETURNING id"), {"seq": seq, "id": conversation.id})
    return result.first() is not None


async def claim_email_due(session: Session, cutoff: datetime, since: datetime, now: datetime,
                          batch: int) -> list[EmailDue]:
    """Claim up to ``batch`` (conversation, recipient) pairs with a message sent between ``since``
    and ``cutoff``, still unread, that no e-mail has covered yet: every unread, not yet e-mailed message of each
    pair (later ones too) is marked ``emailed_at`` here, so each unread batch is e-mailed once,
    however often or concurrently the sweep runs (a concurrent claim re-checks ``emailed_at IS
    NULL`` under the row lock and skips what this one took)."""
    rows = (await session.execute(
        text("WITH due AS ("
             "  SELECT DISTINCT m.conversation_id, m.recipient_id FROM messages m "
             "  JOIN conversations c ON c.id = m.conversation_id "
             f"  WHERE m.emailed_at IS NULL AND m.sent_at <= :cutoff AND m.sent_at > :since AND {UNREAD_SQL} LIMIT :batch"
             "), claimed AS ("
             "  UPDATE messages m SET emailed_at = :now FROM due d, conversations c "
             "  WHERE m.conversation_id = d.conversation_id AND m.recipient_id = d.recipient_id "
             f"    AND c.id = m.conversation_id AND m.emailed_at IS NULL AND {UNREAD_SQL} "
             "  RETURNING m.conversation_id, m.recipient_id"
             ") SELECT conversation_id, recipient_id, count(*) AS n FROM claimed "
             "GROUP BY conversation_id, recipient_id"),
        {"cutoff": cutoff, "since": since, "now": now, "batch": batch})).all()
    return [EmailDue(r.conversation_id, r.recipient_id, int(r.n)) for r in rows]


