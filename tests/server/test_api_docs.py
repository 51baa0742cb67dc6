"""The OpenAPI document and docs/api.md describe the API the code serves."""

from __future__ import annotations

from pathlib import Path

import httpx

from server.openapi import current_spec, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_docs_api_md_is_generated_from_the_current_code() -> None:
    expected = render_markdown(current_spec())
    actual = (ROOT / "docs" / "api.md").read_text()
    assert actual == expected, "docs/api.md is stale: run `python -m server.openapi > docs/api.md`"


async def test_served_openapi_is_3_1_and_documents_the_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    for path, method in [("/api/v1/auth/register", "post"), ("/api/v1/auth/login", "post"),
                         ("/api/v1/holds", "post"), ("/api/v1/holds/{hold_id}", "delete"),
                         ("/api/v1/tutors/{tutor_id}/slots", "get"), ("/api/v1/bookings/{booking_id}/cancel", "post"),
                         ("/api/v1/webhooks/stripe", "post")]:
        assert method in spec["paths"][path], (path, method)
    hold = spec["paths"]["/api/v1/holds"]["post"]
    assert "slot_unavailable" in hold["responses"]["409"]["description"]
    assert "hold_limit_reached" in hold["responses"]["409"]["description"]
    assert hold["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/HoldCreate")


async def test_docs_page_renders_without_external_assets(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/docs")
    assert r.status_code == 200 and "POST" in r.text and "/api/v1/holds" in r.text
    assert "http://" not in r.text and "https://" not in r.text
