"""The waitlist live: the first in line hears ``waitlist.offer`` (the Python Socket.IO client
and the npm ``socket.io-client``) when the hold in front is released, and a watcher sees the
slot go from held to held in one ``slots.changed``, never open."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realtime.conftest import make_tutor, place_hold, slot_start
from tests.realtime.node import NodeListener

pytestmark = pytest.mark.xdist_group("live")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")


async def test_release_offers_the_slot_to_the_first_in_line_live(
        live, api, live_client, make_students, node_client_dir: Path) -> None:
    tutor = await make_tutor(api)
    holder, first, second = await make_students(3)
    start = slot_start()
    held = await place_hold(live[0].url, holder, tutor["id"], start)
    for s in (first, second):
        r = await api.post("/api/v1/waitlist", headers=s["headers"],
                           json={"tutor_id": tutor["id"], "start": start.isoformat(), "minutes": 60})
        assert r.status_code == 201, r.text
    watcher = await live_client(live[1].url)
    ack = await watcher.watch(tutor["id"])
    slot = next(s for s in ack["slots"] if s["start"] == _iso(start))
    assert slot["status"] == "held"
    first_py = await live_client(live[1].url, token=first["token"])
    second_py = await live_client(live[0].url, token=second["token"])
    listener = await NodeListener.start(node_client_dir, live[0].url, first["token"], ["waitlist.offer"], 1)
    try:
        async with httpx.AsyncClient(base_url=live[1].url, timeout=30) as http:
            r = await http.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"])
        assert r.status_code == 204, r.text

        await first_py.wait_for(lambda c: bool(c.of("waitlist.offer")))
        [offer] = first_py.of("waitlist.offer")
        booking = offer["booking"]
        assert booking["student_id"] == first["id"] and booking["status"] == "held"
        assert booking["start"] == _iso(start)
        await listener.until_done()
        [from_node] = listener.of("waitlist.offer")
        assert from_node["booking"]["id"] == booking["id"] and from_node["waitlist_id"] == offer["waitlist_id"]

        # The second in line moved up to first, live.
        await second_py.wait_for(lambda c: any(u["entry"]["position"] == 1 for u in c.of("waitlist.updated")))
        assert second_py.of("waitlist.offer") == []

        # The watcher: one slots.changed for the release, the slot held (by the next student)
        # throughout. A later hold elsewhere marks the end of what the release sent.
        await place_hold(live[0].url, holder, tutor["id"], slot_start(day=3))
        await watcher.wait_for(lambda c: len(c.changes_after_snapshot(tutor["id"])) >= 2)
        changed = watcher.changes_after_snapshot(tutor["id"])
        assert len(changed) == 2, changed
        at_slot = [c for ch in changed for c in ch["changes"] if c["start"] == _iso(start)]
        assert [c["status"] for c in at_slot] == ["held"]
        assert _when(at_slot[0]["held_until"]) == _when(booking["expires_at"])
    finally:
        await listener.close()
