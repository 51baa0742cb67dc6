"""``GET /api/v1/config``: what the frontend may offer on this deployment."""

from __future__ import annotations

import httpx


async def test_config_tells_the_frontend_what_is_on(ic: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    on = (await ic.get("/api/v1/config")).json()
    assert on == {"stripe_publishable_key": None, "google_sign_in": True, "google_calendar": True,
                  "video_meetings": True, "email": True, "uploads": False, "payouts": False,
                  "platform_fee_bps": 1500}
    off = (await client.get("/api/v1/config")).json()
    assert off["google_sign_in"] is False and off["email"] is False
