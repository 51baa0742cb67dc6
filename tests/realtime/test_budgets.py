"""Per-IP budgets shared by every API process through Redis: connections and events."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import socketio

from tests.realtime.conftest import LiveClient, LiveServer, make_tutor

pytestmark = pytest.mark.xdist_group("live")

LIMITS = {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_WINDOW_SECONDS": "60", "LIVE_CONNECTIONS_PER_IP": "4",
          "LIVE_EVENTS_PER_IP": "6", "RATE_LIMIT_PER_IP": "100000", "RATE_LIMIT_PER_USER": "100000"}


@pytest.fixture
async def limited(live: list[LiveServer], settings, tmp_path) -> AsyncIterator[list[LiveServer]]:
    """Two API processes with tight per-IP live budgets (the test's Redis is emptied before each test)."""
    servers = [LiveServer(f"limited-{n}", settings, tmp_path, extra_env=LIMITS) for n in range(2)]
    for server in servers:
        await server.start()
    yield servers
    for server in servers:
        await server.stop()


async def test_connections_from_one_ip_share_a_budget_across_processes(limited: list[LiveServer],
                                                                       live_client) -> None:
    for n in range(4):
        await live_client(limited[n % 2].url)
    refused = LiveClient(limited[1].url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect()
    [error] = refused.connect_errors
    assert error["data"]["code"] == "rate_limited"
    assert error["data"]["details"]["scope"] == "ip" and error["data"]["details"]["limit"] == 4


async def test_events_from_one_ip_share_a_budget_across_connections(limited: list[LiveServer], live_client,
                                                                    api) -> None:
    tutor = await make_tutor(api)
    clients = [await live_client(limited[0].url), await live_client(limited[1].url)]
    for n in range(6):
        ack = await clients[n % 2].watch(tutor["id"])
        assert "slots" in ack, ack
    for client in clients:  # each connection is far within its own per-second budget
        over = await client.watch(tutor["id"])
        assert over["error"]["code"] == "rate_limited"
        assert over["error"]["details"]["scope"] == "ip"
        assert client.sio.connected


async def test_a_repeated_watch_at_the_current_version_answers_no_changes(live: list[LiveServer], api,
                                                                          live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    first = await client.watch(tutor["id"])
    again = await client.watch(tutor["id"])
    assert again["version"] == first["version"] and "slots" in again
    same = await client.watch(tutor["id"], since=first["version"])
    assert same == {"tutor_id": tutor["id"], "version": first["version"], "since": first["version"], "changes": []}
