"""``Idempotency-Key`` for creating POSTs: the same key and body replays the first response.

The key is claimed with ``INSERT … ON CONFLICT DO NOTHING`` in the same transaction as the
change itself: a concurrent request with the same key waits for the first to finish, then
replays its stored response; if the first failed (rolled back), the second runs afresh.
Only successful responses are stored; keys live for ``IDEMPOTENCY_TTL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from server.db import Session
from server.errors import InvalidRequest
from server.http import Ctx


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request."


@dataclass(frozen=True, slots=True)
class Replayable:
    """What identifies a creating request for replay (``key`` None: the caller sent none)."""

    user_id: uuid.UUID
    key: str | None
    endpoint: str
    fingerprint: str
    status: int
    ttl_seconds: int

    @classmethod
    def of(cls, ctx: Ctx, body: BaseModel | None, status: int) -> Replayable:
        key = ctx.idempotency_key
        endpoint = fingerprint = ""  # nothing to compare without a key (the hold's hot path sends none)
        if key is not None:
            endpoint = f"{ctx.request.method} {ctx.request.url.path}"
            payload = json.dumps([endpoint, body.model_dump(mode="json") if body else None], sort_keys=True)
            fingerprint = hashlib.sha256(payload.encode()).hexdigest()
        return cls(user_id=ctx.user.id, key=key, endpoint=endpoint, fingerprint=fingerprint, status=status,
                   ttl_seconds=ctx.settings.idempotency_ttl_seconds)


async def run_idempotent(session: Session, request: Replayable,
                         action: Callable[[], Awaitable[BaseModel]]) -> BaseModel | Response:
    """Run ``action`` in the caller's unit of work, honouring the caller's ``Idempotency-Key``."""
    if request.key is None:
        return await action()
    replay = await _claim(session, request)
    if replay is not None:
        return replay
    result = await action()
    await session.execute(
        text("UPDATE idempotency_keys SET status_code = :s, response = CAST(:r AS jsonb) "
             "WHERE user_id = :u AND key = :k"),
        {"s": request.status, "r": result.model_dump_json(), "u": request.user_id, "k": request.key})
    return result


async def _claim(session: Session, request: Replayable) -> Response | None:
    params = {"u": request.user_id, "k": request.key, "e": request.endpoint, "h": request.fingerprint}
    claimed = await session.execute(
        text("INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash) VALUES (:u, :k, :e, :h) "
             "ON CONFLICT DO NOTHING RETURNING 1"), params)
    if claimed.first() is not None:
        return None
    row = (await session.execute(
        text("SELECT endpoint, request_hash, status_code, response, "
             "created_at < now() - make_interval(secs => :ttl) AS stale "
             "FROM idempotency_keys WHERE user_id = :u AND key = :k FOR UPDATE"),
        {**params, "ttl": request.ttl_seconds})).mappings().one()
    if row["stale"]:
        await session.execute(
            text("UPDATE idempotency_keys SET endpoint = :e, request_hash = :h, status_code = NULL, "
                 "response = NULL, created_at = now() WHERE user_id = :u AND key = :k"), params)
        return None
    if row["endpoint"] != request.endpoint or row["request_hash"] != request.fingerprint:
        raise IdempotencyKeyReused(details={"key": request.key})
    body: Any = row["response"]
    return JSONResponse(body, status_code=int(row["status_code"]), headers={"Idempotent-Replayed": "true"})
