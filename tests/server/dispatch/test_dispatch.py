"""The dispatch sweep: each change kicks its tasks once, and only for configured integrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tasks.integrations import dispatch_changes
from tests.fixtures.integrations import Fakes, InlineTasks, book, integration_settings
from tests.server.emails.test_email import lesson_start, parties


async def test_each_change_is_dispatched_once(ic: httpx.AsyncClient, fakes: Fakes, tasks: InlineTasks) -> None:
    tutor, student = await parties(ic)
    await book(ic, student, tutor["id"], lesson_start())
    first = await tasks.dispatch()
    assert first >= 3  # two welcomes and the confirmation
    assert await tasks.dispatch() == 0
    names = [(name, args[1]) for name, args in tasks.kicked if name == "email.send"]
    assert sorted(names) == sorted([("email.send", "welcome")] * 2 + [("email.send", "booking_confirmed")] * 2)


async def test_nothing_is_kicked_for_integrations_that_are_not_configured(ic: httpx.AsyncClient, fakes: Fakes,
                                                                           iapp: Any) -> None:
    tutor, student = await parties(ic)
    await book(ic, student, tutor["id"], lesson_start())
    bare = integration_settings(fakes, brevo_api_key="", zoom_client_id="", google_client_id="")
    kicked: list[Any] = []

    async def kick(*args: Any) -> None:
        kicked.append(args)

    assert await dispatch_changes(iapp.state.sessionmaker, bare, datetime.now(UTC), kick) == 0
    assert kicked == []
