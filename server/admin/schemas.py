"""Edge schemas for the admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.outbox import DeadLetter


class DeadLetterOut(BaseModel):
    id: int
    task_name: str = Field(description="The task, `domain.verb` (e.g. `payments.refund`).")
    args: dict[str, Any] = Field(description="`{args: [...], kwargs: {...}}` of the failed call.")
    last_error: str
    attempts: int = Field(description="How many times the task ran before it was given up.")
    created_at: datetime
    retried_at: datetime | None = Field(default=None, description="When an admin re-queued it (once only).")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(id=letter.id, task_name=letter.task_name, args=letter.args, last_error=letter.last_error,
                   attempts=letter.attempts, created_at=letter.created_at, retried_at=letter.retried_at)


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_cursor: str | None = None


class DeadLetterQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retried: bool | None = Field(default=None, description="Only re-queued (true) or only waiting (false) ones.")
    cursor: str | None = None
    limit: int = Field(default=20, ge=1, le=100)


class DeadLetterRetryOut(BaseModel):
    dead_letter: DeadLetterOut
    task_id: str = Field(description="The id of the re-queued task; a new failure makes a new dead letter.")
