"""Helpers for package tests: offer packages, buy one with the test provider, hold and spend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.fixtures.bookings import hold


async def offer(client: httpx.AsyncClient, tutor: dict[str, Any], *packages: dict[str, int]) -> httpx.Response:
    return await client.put("/api/v1/tutors/me/packages", headers=tutor["headers"],
                            json={"packages": list(packages)})


async def buy(client: httpx.AsyncClient, student: dict[str, Any], package_id: str) -> dict[str, Any]:
    """Buy a package with the test provider; returns the paid purchase."""
    r = await client.post(f"/api/v1/packages/{package_id}/checkout", headers=student["headers"])
    assert r.status_code == 201, r.text
    assert r.json()["payment"]["provider"] == "test" and r.json()["purchase"]["status"] == "pending"
    r = await client.post("/api/v1/payments/test/confirm-purchase", headers=student["headers"],
                          json={"purchase_id": r.json()["purchase_id"]})
    assert r.status_code == 200, r.text
    return r.json()


async def pay_with_credit(client: httpx.AsyncClient, student: dict[str, Any], booking_id: str) -> httpx.Response:
    return await client.post(f"/api/v1/bookings/{booking_id}/checkout", headers=student["headers"],
                             json={"use_credit": True})


async def held(client: httpx.AsyncClient, student: dict[str, Any], tutor_id: str, start: datetime,
               minutes: int = 60) -> dict[str, Any]:
    r = await hold(client, student, tutor_id, start, minutes=minutes)
    assert r.status_code == 201, r.text
    return r.json()


async def credits(client: httpx.AsyncClient, student: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/me/credits", headers=student["headers"])
    assert r.status_code == 200, r.text
    return list(r.json()["items"])
