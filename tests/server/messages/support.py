"""Users for message tests, inserted straight into the database (registering through argon2
is slow), and the calls the tests make."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from server.identity import issue_access_token
from server.settings import Settings
from tests.helpers import bearer


async def make_user(db: asyncpg.Pool, settings: Settings, role: str = "student", name: str | None = None,
                    email: str | None = None) -> dict[str, Any]:
    uid = uuid.uuid4()
    name = name or f"{role.title()} {uid.hex[:6]}"
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, $3, $4)",
                     uid, email or f"{role}-{uid.hex[:10]}@example.com", name, role)
    return {"id": str(uid), "name": name, "role": role,
            "headers": bearer(issue_access_token(settings, uid, role))}


async def send(client: httpx.AsyncClient, sender: dict[str, Any], to: dict[str, Any] | str,
               body: str = "Hello!") -> httpx.Response:
    to_id = to if isinstance(to, str) else to["id"]
    return await client.post("/api/v1/messages", headers=sender["headers"], json={"to_user_id": to_id, "body": body})


async def conversations(client: httpx.AsyncClient, user: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/conversations", headers=user["headers"], params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def thread(client: httpx.AsyncClient, user: dict[str, Any], conversation_id: str,
                 **params: Any) -> httpx.Response:
    return await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=user["headers"],
                            params=params)


async def read(client: httpx.AsyncClient, user: dict[str, Any], conversation_id: str,
               message_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=user["headers"],
                             json={"up_to_message_id": message_id})
