"""Connecting to ``/live``: tokens in ``auth`` or the cookie, anonymous watchers, refusals."""

from __future__ import annotations

import pytest
import socketio

from server.identity import issue_access_token
from tests.realtime.conftest import LiveClient, make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("live")


async def _refused(url: str, **kwargs: object) -> LiveClient:
    client = LiveClient(url, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect()
    return client


async def test_garbage_token_is_refused_with_invalid_token(live) -> None:
    client = await _refused(live[0].url, token="not-a-jwt")
    [error] = client.connect_errors
    assert error["data"]["code"] == "invalid_token"
    assert "invalid" in error["message"]


async def test_expired_token_is_refused_and_says_expired(live, settings, make_students) -> None:
    [student] = await make_students(1)
    expired = issue_access_token(settings.model_copy(update={"access_token_ttl_seconds": -60}),
                                 __import__("uuid").UUID(student["id"]), "student")
    client = await _refused(live[0].url, token=expired)
    [error] = client.connect_errors
    assert error["data"] == {"code": "invalid_token", "message": error["message"],
                             "details": {"reason": "token expired"}}


async def test_token_signed_with_another_key_is_refused(live, settings, make_students) -> None:
    [student] = await make_students(1)
    forged = issue_access_token(settings.model_copy(update={"secret_key": "x" * 40}),
                                __import__("uuid").UUID(student["id"]), "student")
    client = await _refused(live[0].url, token=forged)
    assert client.connect_errors[0]["data"]["code"] == "invalid_token"


async def test_stale_session_cookie_is_refused(live) -> None:
    client = await _refused(live[0].url, cookie="es_access=stale.token.value")
    assert client.connect_errors[0]["data"]["code"] == "invalid_token"


async def test_non_string_token_is_refused(live) -> None:
    client = await _refused(live[0].url, auth={"token": 12345})
    assert client.connect_errors[0]["data"]["code"] == "invalid_token"


async def test_session_cookie_signs_the_connection_in(live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    client = await live_client(live[0].url, cookie=f"es_access={student['token']}; other=1")
    booking = await place_hold(live[1].url, student, tutor["id"], slot_start())
    await client.wait_for(lambda c: bool(c.of("booking.updated")))
    assert client.of("booking.updated")[0]["booking"]["id"] == booking["id"]


async def test_anonymous_client_may_watch_but_gets_no_personal_events(live, api, live_client,
                                                                       make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    anonymous = await live_client(live[0].url)
    ack = await anonymous.watch(tutor["id"])
    observer = await live_client(live[0].url, token=student["token"])
    await place_hold(live[0].url, student, tutor["id"], slot_start())
    await observer.wait_for(lambda c: bool(c.of("booking.updated")))
    await anonymous.wait_versions(tutor["id"], ack["version"] + 1)
    assert {name for name, _ in anonymous.events} == {"slots.changed"}


async def test_there_is_no_event_to_join_another_users_room(live, api, live_client, make_students) -> None:
    tutor = await make_tutor(api)
    [student, other] = await make_students(2)
    snoop = await live_client(live[0].url, token=other["token"])
    for event, payload in (("join", {"room": f"user:{student['id']}"}),
                           ("enter_room", {"room": f"user:{student['id']}"}),
                           ("watch", {"tutor_id": student["id"]})):
        ack = await snoop.call(event, payload)
        assert ack["error"]["code"] in ("unknown_event", "not_found"), ack
    await place_hold(live[0].url, student, tutor["id"], slot_start())
    mine = await live_client(live[0].url, token=student["token"])
    await place_hold(live[0].url, student, tutor["id"], slot_start(hour=12))
    await mine.wait_for(lambda c: bool(c.of("booking.updated")))
    assert snoop.events == []


async def test_long_polling_clients_are_served_when_allowed(live, api, make_students) -> None:
    tutor = await make_tutor(api)
    [student] = await make_students(1)
    client = LiveClient(live[0].url)
    await client.sio.connect(live[0].url, namespaces=["/live"], transports=["polling"], wait_timeout=10)
    try:
        assert client.sio.transport() == "polling"
        ack = await client.watch(tutor["id"])
        await place_hold(live[1].url, student, tutor["id"], slot_start())
        assert await client.wait_versions(tutor["id"], ack["version"] + 1) == [ack["version"] + 1]
    finally:
        # The Python client's graceful close waits out the pending long-poll (~30 s): abort instead.
        loops = [client.sio.eio.read_loop_task, client.sio.eio.write_loop_task]
        await client.sio.eio.disconnect(abort=True)
        for task in loops:
            if task is not None:
                task.cancel()
