"""The verification link goes out through the dispatch sweep and the ``email.send`` task (fake Brevo)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from server.identity import email_verification_token
from server.settings import Settings
from tests.fixtures.integrations import Fakes, InlineTasks
from tests.helpers import register

EMAIL = {"email.send"}


def the_link(fakes: Fakes, address: str) -> str:
    [message] = [m for m in fakes.brevo.to(address) if m["tags"] == ["verify_email"]]
    assert message["subject"] == "Confirm your e-mail address for EduStream"
    [line] = [ln for ln in message["textContent"].splitlines() if "/verify-email?token=" in ln]
    assert line.strip() in message["htmlContent"]
    return line.strip()


async def test_registration_e_mails_a_link_that_verifies_the_address(ic: httpx.AsyncClient, fakes: Fakes,
                                                                     tasks: InlineTasks) -> None:
    user = await register(ic, role="student", name="Sam Taylor")
    await tasks.settle(EMAIL)
    link = the_link(fakes, user["user"]["email"])
    assert link.startswith("http://frontend.test/verify-email?token=")
    [token] = parse_qs(urlsplit(link).query)["token"]
    r = await ic.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 200 and r.json()["email_verified"] is True
    # Dispatched once; a later sweep sends nothing more.
    await tasks.settle(EMAIL)
    assert len([m for m in fakes.brevo.to(user["user"]["email"]) if m["tags"] == ["verify_email"]]) == 1


async def test_a_link_used_before_its_e_mail_went_out_is_not_sent(ic: httpx.AsyncClient, fakes: Fakes,
                                                                 tasks: InlineTasks, db: asyncpg.Pool,
                                                                 isettings: Settings) -> None:
    user = await register(ic, role="tutor")
    await tasks.dispatch()  # the e-mail is queued ...
    verification_id = await db.fetchval("SELECT id FROM email_verifications")
    token = email_verification_token(isettings, verification_id)
    assert (await ic.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 200
    results = await tasks.drain(EMAIL)  # ... and runs after the link was used (in another way)
    assert [result for _, args, result in results if args[1] == "verify_email"] == ["skipped"]
    assert not [m for m in fakes.brevo.to(user["user"]["email"]) if m["tags"] == ["verify_email"]]
