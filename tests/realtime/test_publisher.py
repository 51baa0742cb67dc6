"""Processes without sockets (worker, scheduler) publish through the same outbox path."""

from __future__ import annotations

import time
import uuid

import pytest

from server import outbox
from server.db import make_engine, make_sessionmaker, unit_of_work
from tests.realtime.conftest import make_tutor

pytestmark = pytest.mark.xdist_group("live")


async def test_change_committed_by_a_worker_reaches_watchers_promptly(live, api, live_client, settings,
                                                                      publisher) -> None:
    tutor = await make_tutor(api)
    watcher = await live_client(live[0].url)
    v0 = (await watcher.watch(tutor["id"]))["version"]
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        started = time.monotonic()
        async with unit_of_work(make_sessionmaker(engine)) as session:
            await outbox.slots_changed(session, uuid.UUID(tutor["id"]), [], resync=True)
        assert await watcher.wait_versions(tutor["id"], v0 + 1, within=5) == [v0 + 1]
        # Woken through NOTIFY (this process is not the publisher), not the 5 s poll.
        assert time.monotonic() - started < 2
    finally:
        await engine.dispose()


async def test_write_only_emit_reaches_a_users_room_on_every_process(live, live_client, make_students,
                                                                     publisher) -> None:
    [student] = await make_students(1)
    conns = [await live_client(s.url, token=student["token"]) for s in live]
    await publisher.emit("hold.expiring", {"booking_id": "b-1", "expires_at": "2030-01-01T00:00:00Z"},
                         room=f"user:{student['id']}")
    for conn in conns:
        await conn.wait_for(lambda c: bool(c.of("hold.expiring")))
        assert conn.of("hold.expiring") == [{"booking_id": "b-1", "expires_at": "2030-01-01T00:00:00Z"}]
