"""Watchers against real API processes: a dropped connection catches up with ``since``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from loadtest.api import ApiClient
from loadtest.live import RawTransport
from loadtest.setup import iso, provision
from loadtest.watchers import WatcherGroup
from tests.realtime.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("loadtest")


async def test_a_watcher_that_lost_its_connection_catches_up_with_since(servers: list[LiveServer]) -> None:
    urls = [s.url for s in servers]
    async with ApiClient(urls, concurrency=4) as api:
        fleet = await provision(api, tutors=1, students=1, tag="watchers", reuse=False, password="pw-loadtest-1",
                                domain="example.com", minutes=30, concurrency=2)
        tutor, student = fleet.tutors[0], fleet.students[0]
        group = WatcherGroup([(urls[0], tutor.id)], client="raw")
        await group.start()
        watcher = group.watchers[0]
        transport = watcher.transport
        assert isinstance(transport, RawTransport) and transport.ws is not None
        try:
            transport.reconnect_delay = 1.0
            await transport.ws.close()  # the connection drops; holds happen while it is away
            for key in list(tutor.open_slots)[:2]:
                reply = await api.request("hold", "POST", "/holds", account=student, json_body={
                    "tutor_id": tutor.id, "start": iso(datetime.fromtimestamp(key, UTC)), "minutes": 30})
                assert reply.status == 201, reply.body
            assert watcher.version is not None and transport.reconnects == 0
            async with asyncio.timeout(45):
                while transport.reconnects == 0 or not watcher.settled:  # noqa: ASYNC110 (two conditions)
                    await asyncio.sleep(0.05)

            result = await group.verify(urls, fleet.window, within=45)
        finally:
            await group.stop()

    assert result.compared == 1 and result.mismatched == 0, result.mismatches
    assert watcher.stats.snapshots == 1  # the missed changes came with since, not as a new snapshot
    assert result.totals["reconnects"] == 1
