"""``auth.purge_tokens``: refresh tokens and verification links go once long past use."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from starlette.applications import Starlette

from server.settings import Settings
from tasks.housekeeping import purge_auth_tokens
from tests.helpers import register


async def test_spent_tokens_are_purged_after_the_retention_and_live_ones_stay(
        app: Starlette, client: httpx.AsyncClient, db: asyncpg.Pool, settings: Settings) -> None:
    user = await register(client)
    uid = uuid.UUID(user["user"]["id"])
    family = uuid.uuid4()
    rows = {  # name: (expires_at, revoked_at) relative to now, in days
        "live": (30, None),
        "expired_recently": (-1, None),
        "expired_long_ago": (-8, None),
        "revoked_recently": (20, -1),
        "revoked_long_ago": (20, -8),
    }
    for name, (expires, revoked) in rows.items():
        await db.execute(
            "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, revoked_at) "
            "VALUES (gen_random_uuid(), $1, $2, $3, now() + $4, now() + $5)", uid, family, name.ljust(64, "x"),
            timedelta(days=expires), None if revoked is None else timedelta(days=revoked))
    await db.execute("INSERT INTO email_verifications (id, user_id, email, token_hash, expires_at) "
                     "VALUES (gen_random_uuid(), $1, 'old@example.com', $2, now() - interval '8 days')", uid, "old".ljust(64, "x"))
    # The registration's own token and link are live.
    assert await purge_auth_tokens(app.state.sessionmaker, settings, datetime.now(UTC)) == 3
    left = {r["token_hash"].rstrip("x") for r in await db.fetch("SELECT token_hash FROM refresh_tokens")}
    assert {"live", "expired_recently", "revoked_recently"} <= left
    assert not {"expired_long_ago", "revoked_long_ago"} & left
    assert await db.fetchval("SELECT count(*) FROM email_verifications") == 1
    assert await purge_auth_tokens(app.state.sessionmaker, settings, datetime.now(UTC)) == 0
