"""Admin-only endpoints: dead letters of background tasks."""

from __future__ import annotations

from datetime import UTC, datetime

from server.admin import service
from server.admin.schemas import DeadLetterOut, DeadLetterPage, DeadLetterQuery, DeadLetterRetryOut
from server.db import Session
from server.http import ADMIN, Ctx, Router
from server.pagination import InvalidCursor

router = Router("/api/v1", tags=["admin"])


@router.get("/admin/dead-letters", auth=ADMIN, summary="Background tasks that exhausted their retries",
            errors=[InvalidCursor])
async def list_dead_letters(ctx: Ctx, session: Session, query: DeadLetterQuery) -> DeadLetterPage:
    """Newest first. Each is a third-party call (refund, calendar, video, e-mail) that failed
    `TASK_MAX_RETRIES` times, or at once with a permanent error."""
    rows, next_cursor = await service.list_dead_letters(session, query.retried, query.cursor, query.limit)
    return DeadLetterPage(items=[DeadLetterOut.of(r) for r in rows], next_cursor=next_cursor)


@router.post("/admin/dead-letters/{letter_id}/retry", auth=ADMIN, status=202,
             summary="Re-queue a dead letter's task with its original arguments",
             errors=[service.DeadLetterNotFound, service.AlreadyRetried, service.UnknownTask])
async def retry_dead_letter(ctx: Ctx, session: Session, letter_id: str) -> DeadLetterRetryOut:
    """202: queued with a fresh retry budget (a new failure makes a new dead letter). 409
    `already_retried` for one re-queued before; 409 `unknown_task` when the task is gone."""
    letter, task_id = await service.retry_dead_letter(session, ctx.settings, service.parse_id(letter_id),
                                                      datetime.now(UTC))
    return DeadLetterRetryOut(dead_letter=DeadLetterOut.of(letter), task_id=task_id)
