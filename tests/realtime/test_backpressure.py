"""A client that stops reading: frames queue behind the back-pressured socket and arrive in order."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.realtime.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("live")

EVENTS = 20_000
PAD = "x" * 600  # ~12 MB in all: far beyond the kernel's and the transports' buffers


async def test_a_client_that_stops_reading_gets_every_event_in_order_when_it_resumes(
        live: list[LiveServer], make_students, publisher) -> None:
    [student] = await make_students(1)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{live[0].url}/socket.io/?EIO=4&transport=websocket", max_msg_size=0)
        assert (await ws.receive_str()).startswith("0")
        await ws.send_str("40/live," + json.dumps({"token": student["token"]}))
        assert (await ws.receive_str()).startswith("40/live,")

        # Publish while the client reads nothing: the server's socket buffers fill, uvicorn pauses
        # writing, and the rest must wait in the Engine.IO queue without overtaking.
        for seq in range(EVENTS):
            await publisher.emit("seq", {"n": seq, "pad": PAD}, room=f"user:{student['id']}")
        await asyncio.sleep(0.5)

        received: list[int] = []
        while len(received) < EVENTS:
            msg = await asyncio.wait_for(ws.receive_str(), 20)
            if msg == "2":
                await ws.send_str("3")
            elif msg.startswith('42/live,["seq"'):
                received.append(json.loads(msg[len("42/live,"):])[1]["n"])
        await ws.close()
    assert received == list(range(EVENTS))
