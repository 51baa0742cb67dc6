"""``Idempotency-Key`` for creating POSTs: the same key and body replays the first response.

The key is claimed with ``INSERT … ON CONFLICT DO NOTHING`` in the same transaction as the
change itself: a concurrent request with the same key waits for the first to finish, then
replays its stored response; if the first failed (rolled back), the second runs afresh.
Only successful responses are stored; keys live for ``IDEMPOTENCY_TTL_SECONDS``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from server.db import Session, unit_of_work
from server.errors import InvalidRequest
from server.http import Ctx


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request."


def _fingerprint(endpoint: str, body: BaseModel | None) -> str:
    payload = json.dumps([endpoint, body.model_dump(mode="json") if body else None], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


async def run_idempotent(ctx: Ctx, body: BaseModel | None, status: int,
                         action: Callable[[Session], Awaitable[BaseModel]]) -> Response:
    """Run ``action`` in a unit of work, honouring the caller's ``Idempotency-Key``."""
    key = ctx.idempotency_key
    endpoint = f"{ctx.request.method} {ctx.request.url.path}"
    replay: Response | None = None
    result: BaseModel | None = None
    async with unit_of_work(ctx.sessionmaker) as session:
        if key is not None:
            replay = await _claim(session, ctx, key, endpoint, _fingerprint(endpoint, body))
        if replay is None:
            result = await action(session)
            if key is not None:
                await session.execute(
                    text("UPDATE idempotency_keys SET status_code = :s, response = CAST(:r AS jsonb) "
                         "WHERE user_id = :u AND key = :k"),
                    {"s": status, "r": result.model_dump_json(), "u": ctx.user.id, "k": key})
    if replay is not None:
        return replay
    assert result is not None
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


async def _claim(session: Session, ctx: Ctx, key: str, endpoint: str, fingerprint: str) -> Response | None:
    ttl = ctx.settings.idempotency_ttl_seconds
    params = {"u": ctx.user.id, "k": key, "e": endpoint, "h": fingerprint}
    claimed = await session.execute(
        text("INSERT INTO idempotency_keys (user_id, key, endpoint, request_hash) VALUES (:u, :k, :e, :h) "
             "ON CONFLICT DO NOTHING RETURNING 1"), params)
    if claimed.first() is not None:
        return None
    row = (await session.execute(
        text("SELECT endpoint, request_hash, status_code, response, "
             "created_at < now() - make_interval(secs => :ttl) AS stale "
             "FROM idempotency_keys WHERE user_id = :u AND key = :k FOR UPDATE"),
        {**params, "ttl": ttl})).mappings().one()
    if row["stale"]:
        await session.execute(
            text("UPDATE idempotency_keys SET endpoint = :e, request_hash = :h, status_code = NULL, "
                 "response = NULL, created_at = now() WHERE user_id = :u AND key = :k"), params)
        return None
    if row["endpoint"] != endpoint or row["request_hash"] != fingerprint:
        raise IdempotencyKeyReused(details={"key": key})
    body: Any = row["response"]
    return JSONResponse(body, status_code=int(row["status_code"]), headers={"Idempotent-Replayed": "true"})
