"""HTTP routes for the notification center: parse, authorize, one service call, serialize."""

from __future__ import annotations

from datetime import UTC, datetime

from server.db import Session
from server.http import SIGNED_IN, Ctx, Router
from server.notifications import service
from server.notifications.schemas import MarkReadIn, MarkReadOut, NotificationPage, NotificationQuery
from server.pagination import InvalidCursor

router = Router("/api/v1", tags=["notifications"])


@router.get("/notifications", auth=SIGNED_IN, summary="Your notifications, newest first",
            errors=[InvalidCursor])
async def list_notifications(ctx: Ctx, session: Session, query: NotificationQuery) -> NotificationPage:
    """Every personal live event sent to you (`booking.new`, `booking.updated`, `hold.expiring`,
    `session.starting`, `waitlist.offer`, `message.new`, `review.new`, `payout.updated`) is also
    stored here, in the transaction that sent it: `kind` is the event's name and `data` its payload.
    `unread=true` lists only unread ones; `unread_count` counts all of them. Live, each one also
    arrives as `notification.new` `{notification}`. Kept for `NOTIFICATION_RETENTION_DAYS`."""
    return await service.list_for(session, ctx.user.id, query)


@router.post("/notifications/read", auth=SIGNED_IN, summary="Mark notifications read")
async def mark_notifications_read(ctx: Ctx, session: Session, body: MarkReadIn) -> MarkReadOut:
    """`{ids: [...]}` marks those of yours (other ids are ignored), `{all: true}` every unread one;
    give exactly one of the two. Your other open tabs get `notifications.read` `{ids, unread_count}`."""
    return await service.mark_read(session, ctx.user.id, body, datetime.now(UTC))
