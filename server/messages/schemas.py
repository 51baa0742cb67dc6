"""Edge schemas for messages and conversations."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from models.message import MAX_BODY, Message
from models.user import Role


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to_user_id: uuid.UUID = Field(description="The recipient (a user id).")
    body: str = Field(min_length=1, max_length=MAX_BODY,
                      description=f"1 to {MAX_BODY} characters (surrounding whitespace is dropped).")


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID
    body: str
    sent_at: datetime
    from_name: str | None = Field(default=None, description="The sender's name, in the answer to `POST /messages` "
                                                            "and in `message.new` (a thread names its two users "
                                                            "in the conversation instead).")

    @classmethod
    def of(cls, m: Message, from_name: str | None = None) -> MessageOut:
        return cls(id=m.id, conversation_id=m.conversation_id, from_user_id=m.sender_id, to_user_id=m.recipient_id,
                   body=m.body, sent_at=m.sent_at, from_name=from_name)


class OtherUserOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role


class ConversationOut(BaseModel):
    id: uuid.UUID
    other_user: OtherUserOut = Field(description="Who you are talking to.")
    last_message: MessageOut | None = None
    unread: int = Field(description="Messages to you in this conversation you have not read.")
    other_read_up_to_message_id: uuid.UUID | None = Field(
        default=None, description="Your latest message the other user has read (the read receipt); null: none yet.")


class ConversationPage(BaseModel):
    items: list[ConversationOut] = Field(description="Most recent message first.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null at the end.")
    unread_total: int = Field(description="Your unread messages in all conversations (the header badge).")


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(default=None, max_length=500)
    limit: int = Field(default=20, ge=1, le=100)


class MessagePage(BaseModel):
    items: list[MessageOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for older messages; null at the end.")


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to_message_id: uuid.UUID = Field(description="Every message of the conversation up to this one is read.")


class ReadOut(BaseModel):
    conversation_id: uuid.UUID
    unread: int = Field(description="Your unread messages in this conversation afterwards.")
    unread_total: int = Field(description="Your unread messages in all conversations afterwards.")
    moved: bool = Field(description="Whether this call moved your read marker (false when you had read that far).")
