"""The load tester's resilient mode (bench/chaos.py): an unanswered request is sent again to the
next URL with the same ``Idempotency-Key``, so a hold that did commit is answered once, as itself."""

from __future__ import annotations

import httpx
import pytest

from loadtest.api import Account, ApiClient
from tests.realtime.conftest import LiveServer, free_port, make_tutor, slot_start

pytestmark = pytest.mark.xdist_group("live")


async def test_a_request_to_a_dead_url_is_answered_by_the_next_one_with_the_same_key(
        servers: list[LiveServer], make_students) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with ApiClient([dead, servers[0].url], concurrency=4, resilient=True, outage_seconds=20) as api:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as http:
            tutor = await make_tutor(http)
        [student] = await make_students(1)
        token = student["headers"]["Authorization"].removeprefix("Bearer ")
        account = Account("s@example.com", "", "student", student["id"], token)
        body = {"tutor_id": tutor["id"], "start": slot_start(hour=9).isoformat(), "minutes": 60}
        reply = await api.request("hold", "POST", "/holds", account=account, json_body=body)
        assert reply.status == 201, reply.body
        assert api.recorder.outage_retries >= 1
        assert api.recorder.transport_errors == 0 and api.recorder.server_errors == 0
        # The same key sent again (what a retry after a lost answer does) replays the first answer.
        key = "chaos-" + reply.body["id"]
        first = await api.request("hold", "POST", "/holds", account=account, base=servers[0].url,
                                  json_body={**body, "start": slot_start(hour=11).isoformat()},
                                  headers={"Idempotency-Key": key})
        again = await api.request("hold", "POST", "/holds", account=account, base=servers[1].url,
                                  json_body={**body, "start": slot_start(hour=11).isoformat()},
                                  headers={"Idempotency-Key": key})
        assert first.status == again.status == 201 and first.body["id"] == again.body["id"]
