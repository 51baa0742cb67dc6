"""A client that stops reading: frames queue behind the back-pressured socket and arrive in order."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from realtime.manager import Broadcast
from tests.realtime.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("live")

EVENTS = 20_000
PAD = "x" * 600  # ~12 MB in all: far beyond the kernel's and the transports' buffers


@pytest.fixture
async def patient_server(live: list[LiveServer], settings, tmp_path) -> AsyncIterator[LiveServer]:
    """A third API process with the default heartbeat, so a client may stop reading for a while."""
    server = LiveServer("patient", settings, tmp_path, extra_env={"LIVE_PING_INTERVAL_SECONDS": "25",
                                                                  "LIVE_PING_TIMEOUT_SECONDS": "20"})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def strict_server(live: list[LiveServer], settings, tmp_path) -> AsyncIterator[LiveServer]:
    """An API process that drops a client once 200 packets wait for it."""
    server = LiveServer("strict", settings, tmp_path, extra_env={"LIVE_PING_INTERVAL_SECONDS": "25",
                                                                 "LIVE_PING_TIMEOUT_SECONDS": "20",
                                                                 "LIVE_MAX_QUEUED_PACKETS": "200"})
    await server.start()
    yield server
    await server.stop()


async def _open(url: str, http: aiohttp.ClientSession, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
    assert (await ws.receive_str()).startswith("0")
    await ws.send_str("40/live," + json.dumps({"token": token}))
    assert (await ws.receive_str()).startswith("40/live,")
    return ws


async def _flood(publisher, room: str) -> None:
    # In batches, as the relay publishes, so this phase stays short on a busy machine.
    for first in range(0, EVENTS, 200):
        await publisher.manager.broadcast([Broadcast("seq", json.dumps({"n": n, "pad": PAD}), room, "/live")
                                           for n in range(first, min(first + 200, EVENTS))])


async def test_a_client_that_stops_reading_gets_every_event_in_order_when_it_resumes(
        patient_server: LiveServer, make_students, publisher) -> None:
    [student] = await make_students(1)
    async with aiohttp.ClientSession() as http:
        ws = await _open(patient_server.url, http, student["token"])
        # Publish while the client reads nothing: the server's socket buffers fill, uvicorn pauses
        # writing, and the rest must wait in the Engine.IO queue without overtaking.
        await _flood(publisher, f"user:{student['id']}")

        received: list[int] = []
        while len(received) < EVENTS:
            msg = await asyncio.wait_for(ws.receive_str(), 20)
            if msg == "2":
                await ws.send_str("3")
            elif msg.startswith('42/live,["seq"'):
                received.append(json.loads(msg[len("42/live,"):])[1]["n"])
        await ws.close()
    assert received == list(range(EVENTS))


async def test_connection_receiving_only_direct_writes_outlives_many_heartbeats(
        live: list[LiveServer], live_client, make_students, publisher) -> None:
    # Heartbeat in the test servers: 1 s interval + 1 s timeout. The library's writer task
    # closes a connection whose queue stays empty that long, so pings must keep it fed.
    [student] = await make_students(1)
    client = await live_client(live[0].url, token=student["token"])
    for seq in range(50):
        await publisher.emit("seq", {"n": seq}, room=f"user:{student['id']}")
        await asyncio.sleep(0.1)
    await client.wait_for(lambda c: len(c.of("seq")) == 50)
    assert client.sio.connected
    assert [e["n"] for e in client.of("seq")] == list(range(50))


async def _live_connections(http: aiohttp.ClientSession, url: str) -> float:
    """The server's open Socket.IO connections, from its /metrics."""
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    match = re.search(r"^edustream_live_connections (\S+)$", text, re.MULTILINE)
    assert match is not None, "no live_connections gauge in /metrics"
    return float(match.group(1))


async def _until_disconnected(http: aiohttp.ClientSession, url: str, within: float) -> None:
    """Until the server counts no open connection (it dropped the slow client)."""
    deadline = asyncio.get_running_loop().time() + within
    while await _live_connections(http, url) > 0:
        assert asyncio.get_running_loop().time() < deadline, f"the server kept the slow client for {within} s"
        await asyncio.sleep(0.1)


async def test_a_client_too_far_behind_is_disconnected_after_an_in_order_prefix(
        strict_server: LiveServer, make_students, publisher) -> None:
    [student] = await make_students(1)
    async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as probe:
        ws = await _open(strict_server.url, http, student["token"])
        assert await _live_connections(probe, strict_server.url) == 1
        await _flood(publisher, f"user:{student['id']}")
        # Read nothing until the server has given up on the client: on a busy machine the flood
        # may still be arriving at the server when the publisher returns, and a client that reads
        # early could keep up. (The default heartbeat, 25 + 20 s, leaves ample time.)
        await _until_disconnected(probe, strict_server.url, within=40)
        received: list[int] = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), 60)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break  # the server closed the connection
            if msg.data.startswith('42/live,["seq"'):
                received.append(json.loads(msg.data[len("42/live,"):])[1]["n"])
    assert 0 < len(received) < EVENTS
    assert received == list(range(len(received)))
