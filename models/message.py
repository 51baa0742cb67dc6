"""Messages between a student and a tutor, one conversation per pair of users.

A conversation stores its pair ordered (``user_low_id < user_high_id``) under a unique key, so
the first messages two users send each other at the same moment still make exactly one
conversation (``INSERT ... ON CONFLICT``). Each side's read marker is the ``seq`` of the last
message it has read; it only moves forward (``GREATEST``), so concurrent or late "mark read"
calls can never make read messages unread again. A message is unread by its recipient while
its ``seq`` is above the recipient's marker. ``emailed_at`` records that the e-mail fallback
(``messages.email_unread``) has covered the message, so it is e-mailed at most once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at, uuid_pk

MAX_BODY = 4000


class Conversation(Base):
    """The messages of one pair of users, and how far each of them has read."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("user_low_id", "user_high_id", name="uq_conversations_pair"),
        CheckConstraint("user_low_id < user_high_id", name="pair_ordered"),
        # "My conversations, most recent first" from either side.
        Index("ix_conversations_low_last", "user_low_id", "last_seq"),
        Index("ix_conversations_high_last", "user_high_id", "last_seq"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_low_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                   nullable=False)
    user_high_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                    nullable=False)
    created_at: Mapped[datetime] = created_at()
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The newest message's seq: the list's order and cursor (0 before the first message).
    last_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    # The seq of the last message each side has read (0: none).
    low_read_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    high_read_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")

    def other(self, user_id: uuid.UUID) -> uuid.UUID:
        return self.user_high_id if user_id == self.user_low_id else self.user_low_id

    def read_seq_of(self, user_id: uuid.UUID) -> int:
        return self.low_read_seq if user_id == self.user_low_id else self.high_read_seq


class Message(Base):
    """One message; ``seq`` orders a conversation (newest first) and is its pages' cursor."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(f"char_length(body) BETWEEN 1 AND {MAX_BODY}", name="body_length"),
        CheckConstraint("sender_id <> recipient_id", name="not_to_self"),
        Index("ix_messages_conversation_seq", "conversation_id", "seq"),
        # A user's unread messages (the header badge) and "has X written to Y".
        Index("ix_messages_recipient_seq", "recipient_id", "seq"),
        # The e-mail fallback's sweep: messages not yet covered by an e-mail, oldest first.
        Index("ix_messages_not_emailed", "sent_at", postgresql_where=text("emailed_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), nullable=False, unique=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True),
                                                       ForeignKey("conversations.id", ondelete="CASCADE"),
                                                       nullable=False)
    sender_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                 nullable=False)
    recipient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"),
                                                    nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
