"""Messages live: a real Python Socket.IO client and the npm ``socket.io-client`` receive
``message.new`` and ``message.read`` from the API processes; one conversation's messages
arrive in their order, even when sent concurrently."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realtime.conftest import LiveClient, make_tutor
from tests.realtime.node import NodeListener

pytestmark = pytest.mark.xdist_group("live")


async def _send(base_url: str, sender: dict[str, Any], to_id: str, body: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        r = await http.post("/api/v1/messages", headers=sender["headers"], json={"to_user_id": to_id, "body": body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _read(base_url: str, user: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        r = await http.post(f"/api/v1/conversations/{message['conversation_id']}/read", headers=user["headers"],
                            json={"up_to_message_id": message["id"]})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _of(client: LiveClient, event: str) -> list[Any]:
    return [data for name, data in client.events if name == event]


async def test_message_new_and_read_receipts_reach_both_users_across_processes(live, api, make_students,
                                                                                live_client) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    tutor_tab = await live_client(live[0].url, token=tutor["token"])
    student_other_tab = await live_client(live[1].url, token=student["token"])

    message = await _send(live[0].url, student, tutor["id"], "Hello from the student")
    await tutor_tab.wait_for(lambda c: bool(_of(c, "message.new")))
    await student_other_tab.wait_for(lambda c: bool(_of(c, "message.new")))
    assert _of(tutor_tab, "message.new") == [{"message": message}]
    assert _of(student_other_tab, "message.new") == [{"message": message}]
    # The recipient's copy is stored (notification.new follows it); the sender's is not.
    await tutor_tab.wait_for(lambda c: any(n["notification"]["kind"] == "message.new"
                                           for n in _of(c, "notification.new")))

    await _read(live[1].url, tutor, message)
    for client in (tutor_tab, student_other_tab):
        await client.wait_for(lambda c: bool(_of(c, "message.read")))
        [receipt] = _of(client, "message.read")
        assert {k: receipt[k] for k in ("conversation_id", "reader_id", "up_to_message_id")} == \
            {"conversation_id": message["conversation_id"], "reader_id": tutor["id"], "up_to_message_id": message["id"]}
    # Everything the student's tab got came before or with the read receipt: no notification of their own message.
    assert _of(student_other_tab, "notification.new") == []

    reply = await _send(live[1].url, tutor, student["id"], "Hello back")
    await student_other_tab.wait_for(lambda c: len(_of(c, "message.new")) == 2)
    assert _of(student_other_tab, "message.new")[1] == {"message": reply}


async def test_concurrent_messages_of_one_conversation_arrive_in_their_order(live, api, make_students,
                                                                              live_client) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    tutor_tab = await live_client(live[0].url, token=tutor["token"])
    bodies = [f"m{i}" for i in range(10)]
    await asyncio.gather(*(_send(live[i % 2].url, student, tutor["id"], body) for i, body in enumerate(bodies)))
    await tutor_tab.wait_for(lambda c: len(_of(c, "message.new")) == len(bodies))
    received = [e["message"]["id"] for e in _of(tutor_tab, "message.new")]
    async with httpx.AsyncClient(base_url=live[0].url, timeout=30) as http:
        conversation_id = _of(tutor_tab, "message.new")[0]["message"]["conversation_id"]
        r = await http.get(f"/api/v1/conversations/{conversation_id}/messages", headers=tutor["headers"],
                           params={"limit": 100})
    listed = [m["id"] for m in r.json()["items"]]
    assert received == listed[::-1]


async def test_socket_io_client_from_npm_receives_message_new_and_message_read(live, api, make_students,
                                                                              node_client_dir: Path) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    listener = await NodeListener.start(node_client_dir, live[1].url, tutor["token"],
                                        ["message.new", "message.read"], 2)
    try:
        message = await _send(live[0].url, student, tutor["id"], "Hi from node's test")
        assert (await listener.until("message.new"))["data"] == {"message": message}
        await _read(live[0].url, tutor, message)
        await listener.until_done()
    finally:
        await listener.close()
    [receipt] = listener.of("message.read")
    assert receipt["up_to_message_id"] == message["id"] and receipt["reader_id"] == tutor["id"]
    assert listener.of("message.new") == [{"message": message}]
