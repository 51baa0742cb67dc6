"""The waitlist live: the first in line hears ``waitlist.offer`` (the Python Socket.IO client
and the npm ``socket.io-client``) when the hold in front is released, and a watcher sees the
slot go from held to held in one ``slots.changed``, never open."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realtime.conftest import make_tutor, place_hold, slot_start
from tests.realtime.test_node_client import node_client_dir  # noqa: F401 (the fixture)

pytestmark = pytest.mark.xdist_group("live")
NODE_DIR = Path(__file__).parent / "node_client"


async def _line(stream: asyncio.StreamReader) -> dict[str, Any]:
    raw = await asyncio.wait_for(stream.readline(), 30)
    assert raw, "the node client exited early"
    data: dict[str, Any] = json.loads(raw)
    assert "error" not in data, data
    return data


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")


async def test_release_offers_the_slot_to_the_first_in_line_live(
        live, api, live_client, make_students, node_client_dir: Path) -> None:  # noqa: F811
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
    proc = await asyncio.create_subprocess_exec("node", "offer.mjs", live[0].url, first["token"], cwd=node_client_dir,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert (await _line(proc.stdout))["ready"] is True
        async with httpx.AsyncClient(base_url=live[1].url, timeout=30) as http:
            r = await http.delete(f"/api/v1/holds/{held['id']}", headers=holder["headers"])
        assert r.status_code == 204, r.text

        await first_py.wait_for(lambda c: bool(c.of("waitlist.offer")))
        [offer] = first_py.of("waitlist.offer")
        booking = offer["booking"]
        assert booking["student_id"] == first["id"] and booking["status"] == "held"
        assert booking["start"] == _iso(start)
        from_node = await _line(proc.stdout)
        assert from_node["event"] == "waitlist.offer" and from_node["data"]["booking"]["id"] == booking["id"]
        assert from_node["data"]["waitlist_id"] == offer["waitlist_id"]
        assert await asyncio.wait_for(proc.wait(), 10) == 0

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
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
