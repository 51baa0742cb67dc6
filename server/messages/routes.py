"""HTTP routes for messages: parse, authorize, one service call, serialize."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.db import Session
from server.http import SIGNED_IN, Ctx, Router
from server.messages import service
from server.messages.errors import ConversationNotFound, NotAllowed, NotInConversation
from server.messages.schemas import ConversationPage, ListQuery, MessageIn, MessageOut, MessagePage, ReadIn, ReadOut
from server.pagination import InvalidCursor

router = Router("/api/v1", tags=["messages"])


@router.post("/messages", auth=SIGNED_IN, status=201, summary="Send a message", errors=[NotAllowed])
async def send_message(ctx: Ctx, session: Session, body: MessageIn) -> MessageOut:
    """A student may write to any tutor; a tutor to a student who has booked them (a booking in
    any status) or written to them. 403 `not_allowed` otherwise, also for an unknown user id or
    yourself. `body`: 1 to 4,000 characters. At most MESSAGE_LIMIT_PER_MINUTE per minute (429
    `rate_limited` with `Retry-After`). Live: `message.new` `{message}` to the recipient and to
    your other connections (merge it by `id`)."""
    return await service.send(session, ctx.user, body, datetime.now(UTC))


@router.get("/conversations", auth=SIGNED_IN, summary="Your conversations, most recent first",
            errors=[InvalidCursor])
async def list_conversations(ctx: Ctx, session: Session, query: ListQuery) -> ConversationPage:
    """Each with the other user, the last message and your unread count in it; `unread_total`
    counts your unread messages in every conversation."""
    return await service.list_conversations(session, ctx.user.id, query)


@router.get("/conversations/{conversation_id}/messages", auth=SIGNED_IN, summary="A conversation's messages",
            errors=[ConversationNotFound, InvalidCursor])
async def list_messages(ctx: Ctx, session: Session, conversation_id: uuid.UUID, query: ListQuery) -> MessagePage:
    """Newest first; `cursor` pages to older ones. 404 for anyone but its two users."""
    return await service.list_messages(session, ctx.user.id, conversation_id, query)


@router.post("/conversations/{conversation_id}/read", auth=SIGNED_IN, summary="Mark a conversation read",
             errors=[ConversationNotFound, NotInConversation])
async def mark_read(ctx: Ctx, session: Session, conversation_id: uuid.UUID, body: ReadIn) -> ReadOut:
    """Every message up to `up_to_message_id` (one of this conversation's, else 422) is read by
    you. Your read marker only moves forward: an older id changes nothing (`moved: false`).
    When it moves, both of you get `message.read` `{conversation_id, reader_id,
    up_to_message_id, read_at}` (the read receipt). 404 for anyone but its two users."""
    return await service.mark_read(session, ctx.user.id, conversation_id, body, datetime.now(UTC))
