"""Small async helpers shared by the HTTP tests (keep the signatures stable: others build on them)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

DEFAULT_PASSWORD = "correct horse battery"


def unique_email(prefix: str = "user") -> str:
    """A fresh, valid e-mail address."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def bearer(access_token: str) -> dict[str, str]:
    """The ``Authorization`` header for an access token."""
    return {"Authorization": f"Bearer {access_token}"}


async def register(client: httpx.AsyncClient, role: str = "student", email: str | None = None,
                   name: str | None = None, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    """Register an account through the API and return ``{"user", "access_token", "refresh_token",
    "headers"}`` where ``headers`` carries ``Authorization: Bearer <access_token>``.

    The client's cookie jar is cleared afterwards, so later requests authenticate only with the
    headers they pass (several users can share one client).
    """
    email = email or unique_email(role)
    name = name or f"Test {role.capitalize()}"
    r = await client.post("/api/v1/auth/register",
                          json={"email": email, "password": password, "name": name, "role": role})
    assert r.status_code == 201, r.text
    data = r.json()
    client.cookies.clear()
    return {"user": data["user"], "access_token": data["access_token"],
            "refresh_token": data.get("refresh_token"), "headers": bearer(data["access_token"]),
            "password": password}


async def login(client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> dict[str, Any]:
    """Sign in through the API; same shape as :func:`register`. Leaves the cookies in the client's jar."""
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    data = r.json()
    return {"user": data["user"], "access_token": data["access_token"],
            "refresh_token": data.get("refresh_token"), "headers": bearer(data["access_token"]),
            "password": password}
