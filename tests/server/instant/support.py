"""Tutors online for instant lessons: a profile, the toggle on, and a present connection (what
the /live namespace records for a connected tutor; tests/realtime/test_instant_live.py covers
the connections themselves)."""

from __future__ import annotations

from typing import Any

import httpx
from redis.asyncio import Redis

from server.instant import presence
from server.settings import Settings
from tests.fixtures.bookings import TutorFactory


async def set_available(client: httpx.AsyncClient, tutor: dict[str, Any], available: bool = True) -> httpx.Response:
    return await client.put("/api/v1/tutors/me/instant", headers=tutor["headers"], json={"available": available})


async def connect(redis: Redis, settings: Settings, tutor: dict[str, Any], sid: str = "conn-1") -> None:
    await presence.touch(redis, settings, [(tutor["id"], f"{tutor['id']}:{sid}")])


async def online_tutor(client: httpx.AsyncClient, redis: Redis, settings: Settings, make_tutor: TutorFactory,
                       **kwargs: Any) -> dict[str, Any]:
    tutor = await make_tutor(**kwargs)
    r = await set_available(client, tutor)
    assert r.status_code == 200, r.text
    await connect(redis, settings, tutor)
    return tutor


async def ask(client: httpx.AsyncClient, student: dict[str, Any], subject: str = "mathematics",
              minutes: int = 30) -> httpx.Response:
    return await client.post("/api/v1/instant-requests", headers=student["headers"],
                             json={"subject": subject, "minutes": minutes})


async def accept(client: httpx.AsyncClient, tutor: dict[str, Any], request_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/instant-requests/{request_id}/accept", headers=tutor["headers"])
