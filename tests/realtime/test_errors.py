"""Malformed and over-limit events get an error ack; the connection stays up."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.realtime.conftest import LIVE_ENV, LiveClient, make_tutor

pytestmark = pytest.mark.xdist_group("live")


async def _still_works(client: LiveClient, tutor_id: str) -> None:
    assert client.sio.connected
    ack = await client.watch(tutor_id)
    assert ack["tutor_id"] == tutor_id and "slots" in ack


@pytest.mark.parametrize(("payload", "code", "field"), [
    ("not an object", "invalid_request", "payload"),
    ([1, 2], "invalid_request", "payload"),
    ({}, "invalid_request", "payload.tutor_id"),
    ({"tutor_id": "not-a-uuid"}, "invalid_request", "payload.tutor_id"),
    ({"tutor_id": str(uuid.uuid4()), "since": -1}, "invalid_request", "payload.since"),
    ({"tutor_id": str(uuid.uuid4()), "since": "3"}, "invalid_request", "payload.since"),
    ({"tutor_id": str(uuid.uuid4()), "extra": True}, "invalid_request", "payload.extra"),
    ({"tutor_id": str(uuid.uuid4())}, "not_found", None),
])
async def test_malformed_watch_gets_an_error_ack(live, api, live_client, payload: Any, code: str,
                                                 field: str | None) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    ack = await client.call("watch", payload)
    assert ack["error"]["code"] == code, ack
    assert set(ack["error"]) == {"code", "message", "details"}
    if field is not None:
        assert field in [d["field"] for d in ack["error"]["details"]]
    await _still_works(client, tutor["id"])


async def test_unknown_event_gets_an_error_ack(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    ack = await client.call("subscribe_everything", {"x": 1})
    assert ack["error"]["code"] == "unknown_event"
    await _still_works(client, tutor["id"])


async def test_event_with_two_arguments_gets_an_error_ack(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    ack = await client.sio.call("watch", ({"tutor_id": tutor["id"]}, "extra"), namespace="/live", timeout=10)
    assert ack["error"]["code"] == "invalid_request"
    await _still_works(client, tutor["id"])


async def test_oversized_payload_gets_payload_too_large(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    limit = int(LIVE_ENV["LIVE_MAX_PAYLOAD_BYTES"])
    ack = await client.call("watch", {"tutor_id": tutor["id"], "pad": "x" * (limit + 10)})
    assert ack["error"]["code"] == "payload_too_large"
    assert ack["error"]["details"]["limit_bytes"] == limit
    await _still_works(client, tutor["id"])


async def test_too_many_events_per_second_are_rate_limited(live, api, live_client) -> None:
    tutor = await make_tutor(api)
    client = await live_client(live[0].url)
    rate = int(LIVE_ENV["LIVE_EVENTS_PER_SECOND"])
    acks = await asyncio.gather(*(client.call("unwatch", {"tutor_id": tutor["id"]}) for _ in range(rate * 2)))
    limited = [a for a in acks if "error" in a]
    assert limited and all(a["error"]["code"] == "rate_limited" for a in limited)
    assert len(acks) - len(limited) >= rate
    assert limited[0]["error"]["details"]["retry_after_seconds"] > 0
    await asyncio.sleep(1.1)
    await _still_works(client, tutor["id"])


async def test_watching_more_tutors_than_allowed_is_refused_until_one_is_unwatched(live, api, live_client) -> None:
    limit = int(LIVE_ENV["LIVE_MAX_WATCHES"])
    tutors = [await make_tutor(api) for _ in range(limit + 1)]
    client = await live_client(live[0].url)
    for tutor in tutors[:limit]:
        assert "slots" in await client.watch(tutor["id"])
    assert "slots" in await client.watch(tutors[0]["id"]), "re-watching one already watched is free"
    ack = await client.watch(tutors[-1]["id"])
    assert ack["error"]["code"] == "too_many_watches"
    assert (await client.call("unwatch", {"tutor_id": tutors[0]["id"]})) == {"tutor_id": tutors[0]["id"],
                                                                            "watching": False}
    assert "slots" in await client.watch(tutors[-1]["id"])


async def test_failed_watch_does_not_use_up_the_watch_limit(live, api, live_client) -> None:
    limit = int(LIVE_ENV["LIVE_MAX_WATCHES"])
    client = await live_client(live[0].url)
    for _ in range(limit + 2):
        assert (await client.watch(str(uuid.uuid4())))["error"]["code"] == "not_found"
    tutor = await make_tutor(api)
    await _still_works(client, tutor["id"])
