"""A live connection keeps its identity only while its access token is valid and its sign-in stands."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio

from realtime.internals import close_redis, start_manager, stop_listener
from realtime.manager import StockRedisManager
from server.identity import issue_access_token
from server.settings import Settings
from tests.helpers import DEFAULT_PASSWORD, register
from tests.realtime.conftest import LiveClient, LiveServer, served_in_process

pytestmark = pytest.mark.xdist_group("live")

SHORT_TTL = 3  # seconds: the ACCESS_TOKEN_TTL_SECONDS these connections' tokens were issued with


def short_token(settings: Settings, user_id: str, seconds: int = SHORT_TTL) -> str:
    short = settings.model_copy(update={"access_token_ttl_seconds": seconds})
    return issue_access_token(short, uuid.UUID(user_id), "student")


def ended(client: LiveClient) -> bool:
    return bool(client.disconnects)


async def test_a_connection_whose_token_expires_is_told_why_and_disconnected(
        live: list[LiveServer], live_client, make_students, settings: Settings) -> None:
    [student] = await make_students(1)
    client = await live_client(live[0].url, token=short_token(settings, student["id"]))

    await client.wait_for(ended, within=SHORT_TTL + 20)

    [expired] = client.of("session.expired")
    assert expired["reason"] == "token_expired"
    assert not client.sio.connected


async def test_auth_with_a_fresh_token_keeps_the_connection_past_the_old_expiry(
        live: list[LiveServer], live_client, make_students, settings: Settings, publisher) -> None:
    [student] = await make_students(1)
    renewed = await live_client(live[0].url, token=short_token(settings, student["id"]))
    control = await live_client(live[0].url, token=short_token(settings, student["id"]))

    ack = await renewed.call("auth", {"token": short_token(settings, student["id"], 600)})
    assert ack["user_id"] == student["id"] and "expires_at" in ack

    # The control connection's token expired at the same moment as the renewed one's old token.
    await control.wait_for(ended, within=SHORT_TTL + 20)
    assert renewed.sio.connected and not renewed.disconnects
    await publisher.emit("ping.personal", {"n": 1}, room=f"user:{student['id']}")
    await renewed.wait_for(lambda c: bool(c.of("ping.personal")))
    assert renewed.of("session.expired") == []


async def test_auth_refuses_another_users_or_a_bad_token_and_keeps_the_connection(
        live: list[LiveServer], live_client, make_students, settings: Settings) -> None:
    alice, bob = await make_students(2)
    client = await live_client(live[0].url, token=alice["token"])

    other = await client.call("auth", {"token": bob["token"]})
    assert other["error"]["code"] == "invalid_token"
    assert other["error"]["details"]["reason"] == "different user"
    expired = await client.call("auth", {"token": short_token(settings, alice["id"], -60)})
    assert expired["error"]["details"]["reason"] == "token expired"
    forged = await client.call("auth", {"token": "not-a-jwt"})
    assert forged["error"]["code"] == "invalid_token"
    missing = await client.call("auth", {})
    assert missing["error"]["code"] == "invalid_request"
    assert client.sio.connected


async def test_an_anonymous_connection_can_sign_in_with_auth(
        live: list[LiveServer], live_client, make_students, publisher) -> None:
    [student] = await make_students(1)
    client = await live_client(live[0].url)
    ack = await client.call("auth", {"token": student["token"]})
    assert ack["user_id"] == student["id"]
    await publisher.emit("ping.personal", {"n": 1}, room=f"user:{student['id']}")
    await client.wait_for(lambda c: bool(c.of("ping.personal")))


async def test_logout_closes_the_users_connections_on_every_api_process(
        live: list[LiveServer], live_client) -> None:
    async with httpx.AsyncClient(base_url=live[0].url, timeout=30) as api:
        account = await register(api)
        other = await register(api)
        on_b = await live_client(live[1].url, token=account["access_token"])
        on_a = await live_client(live[0].url, token=account["access_token"])
        bystander = await live_client(live[1].url, token=other["access_token"])

        r = await api.post("/api/v1/auth/logout", json={"refresh_token": account["refresh_token"]})
        assert r.status_code == 204, r.text

    for client in (on_a, on_b):
        await client.wait_for(ended, within=20)
        [revoked] = client.of("session.revoked")
        assert revoked["reason"] == "signed_out" and revoked["user_id"] == account["user"]["id"]
    assert bystander.sio.connected and bystander.of("session.revoked") == []


async def test_logout_leaves_the_same_users_other_sign_ins_connected(live: list[LiveServer], live_client) -> None:
    async with httpx.AsyncClient(base_url=live[0].url, timeout=30) as api:
        account = await register(api)
        api.cookies.clear()
        login = await api.post("/api/v1/auth/login", json={"email": account["user"]["email"],
                                                            "password": DEFAULT_PASSWORD})
        phone = login.json()
        api.cookies.clear()
        laptop_socket = await live_client(live[0].url, token=account["access_token"])
        phone_socket = await live_client(live[1].url, token=phone["access_token"])

        r = await api.post("/api/v1/auth/logout", json={"refresh_token": account["refresh_token"]})
        assert r.status_code == 204, r.text

    await laptop_socket.wait_for(ended, within=20)
    assert phone_socket.sio.connected and phone_socket.of("session.revoked") == []


async def test_a_reused_refresh_token_closes_the_users_connections(live: list[LiveServer], live_client) -> None:
    async with httpx.AsyncClient(base_url=live[0].url, timeout=30) as api:
        account = await register(api)
        client = await live_client(live[1].url, token=account["access_token"])
        first = await api.post("/api/v1/auth/refresh", json={"refresh_token": account["refresh_token"]})
        assert first.status_code == 200, first.text
        api.cookies.clear()
        replay = await api.post("/api/v1/auth/refresh", json={"refresh_token": account["refresh_token"]})
        assert replay.json()["error"]["code"] == "refresh_token_reused"

    await client.wait_for(ended, within=20)
    assert client.of("session.revoked")[0]["reason"] == "session_revoked"



@pytest.fixture
async def stock_sio(settings: Settings) -> AsyncIterator[tuple[str, socketio.AsyncServer]]:
    """A Socket.IO server on the library's Redis manager (LIVE_FAST_FANOUT=false), under in-process uvicorn."""
    manager = StockRedisManager(settings.redis_url, channel=f"stock-{uuid.uuid4().hex}")
    sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, logger=False, engineio_logger=False)

    @sio.on("connect", namespace="/live")
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await sio.enter_room(sid, "user:u1", namespace="/live")

    start_manager(sio)
    async with served_in_process(sio) as url:
        yield url, sio
    await stop_listener(manager)
    await close_redis(manager)


async def test_the_stock_manager_also_disconnects_a_revoked_users_connections(
        stock_sio: tuple[str, socketio.AsyncServer]) -> None:
    url, sio = stock_sio
    client = await LiveClient(url).connect()
    try:
        await sio.emit("session.revoked", {"user_id": "u1", "reason": "signed_out"}, room="user:u1", namespace="/live")
        await client.wait_for(ended, within=20)
        assert client.of("session.revoked") == [{"user_id": "u1", "reason": "signed_out"}]
    finally:
        await client.disconnect()


async def test_a_suspended_account_is_disconnected_everywhere_and_cannot_reconnect(
        live: list[LiveServer], live_client, db, settings: Settings) -> None:
    admin_id = uuid.uuid4()
    await db.execute("INSERT INTO users (id, email, name, role) VALUES ($1, $2, 'Admin', 'admin')",
                     admin_id, f"admin-{admin_id.hex[:10]}@example.com")
    admin_headers = {"Authorization": f"Bearer {issue_access_token(settings, admin_id, 'admin')}"}
    async with httpx.AsyncClient(base_url=live[0].url, timeout=30) as api:
        account = await register(api)
        on_a = await live_client(live[0].url, token=account["access_token"])
        on_b = await live_client(live[1].url, token=account["access_token"])
        r = await api.post(f"/api/v1/admin/users/{account['user']['id']}/suspend", headers=admin_headers,
                           json={"reason": "abuse"})
        assert r.status_code == 200, r.text

    for client in (on_a, on_b):
        await client.wait_for(ended, within=20)
        assert client.of("session.revoked")[0]["reason"] == "account_suspended"
    again = socketio.AsyncClient(reconnection=False)
    errors: list[object] = []
    again.on("connect_error", errors.append, namespace="/live")
    refused = None
    deadline = asyncio.get_running_loop().time() + 30
    while refused is None:  # until the process has re-read the suspended accounts
        try:
            await again.connect(live[1].url, namespaces=["/live"], auth={"token": account["access_token"]},
                                transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            refused = exc
        else:
            await again.disconnect()
            assert asyncio.get_running_loop().time() < deadline, "a suspended account could still connect"
            await asyncio.sleep(0.2)
    assert any("account_suspended" in str(e) for e in errors), errors
