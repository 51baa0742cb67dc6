"""The live layer over a Redis Cluster: sharded pub/sub with a channel per room, subscribed
only by the processes serving that room, and a failover of the master that owns a hot tutor's
channel in the middle of a run, after which every watcher's view equals the database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from realtime import sharded
from server.settings import Settings
from tests.fixtures.redis_cluster import LocalCluster
from tests.realtime.conftest import LiveClient, LiveServer, get_slots, make_tutor, place_hold, slot_start

pytestmark = pytest.mark.xdist_group("redis-cluster")


def room_channel(settings: Settings, room: str) -> str:
    return f"{settings.live_channel}:room:{room}"


async def subscribers(cluster: LocalCluster, channel: str) -> int:
    """``PUBSUB SHARDNUMSUB`` on the master serving ``channel``'s slot."""
    node = await cluster.master_of(channel)
    client = Redis(host="127.0.0.1", port=node.port)
    try:
        reply = await client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
    finally:
        await client.aclose()
    return int(reply[1])


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_tutors_rooms_spread_over_the_shards(cluster: LocalCluster, cluster_settings: Settings) -> None:
    channels = [room_channel(cluster_settings, f"tutor:{i:032x}") for i in range(60)]
    owners = {(await cluster.master_of(c)).port for c in channels}
    assert len(owners) == 3
    assert len({key_slot(c.encode()) for c in channels}) == 60


async def test_watchers_on_two_processes_get_every_change_in_order_and_only_serving_processes_subscribe(
        servers: list[LiveServer], capi: httpx.AsyncClient, cluster: LocalCluster, cluster_settings: Settings,
        cluster_students: Callable[[int], Awaitable[list[dict[str, Any]]]],
        live_client: Callable[..., Awaitable[LiveClient]]) -> None:
    a, b = servers
    tutor = await make_tutor(capi)
    channel = room_channel(cluster_settings, f"tutor:{tutor['id']}")
    assert await subscribers(cluster, channel) == 0
    watcher_a, watcher_b = await live_client(a.url), await live_client(b.url)
    acks = [await watcher_a.watch(tutor["id"]), await watcher_b.watch(tutor["id"])]
    # One subscription per serving process, on the shard owning the room's slot.
    assert await subscribers(cluster, channel) == 2
    students = await cluster_students(4)
    for hour, student in enumerate(students):
        await place_hold(b.url if hour % 2 else a.url, student, tutor["id"], slot_start(hour=8 + hour))
    for watcher, ack in zip((watcher_a, watcher_b), acks, strict=True):
        versions = await watcher.wait_versions(tutor["id"], ack["version"] + 4)
        assert versions == list(range(ack["version"] + 1, ack["version"] + 5))
    # The last watcher of a process leaving unsubscribes that process.
    await watcher_a.call("unwatch", {"tutor_id": tutor["id"]})
    await eventually(lambda: _equals(subscribers(cluster, channel), 1))
    await watcher_b.disconnect()
    await eventually(lambda: _equals(subscribers(cluster, channel), 0))


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_personal_events_reach_the_users_connection_on_another_process(
        servers: list[LiveServer], capi: httpx.AsyncClient,
        cluster_students: Callable[[int], Awaitable[list[dict[str, Any]]]],
        live_client: Callable[..., Awaitable[LiveClient]]) -> None:
    a, b = servers
    tutor = await make_tutor(capi)
    [student] = await cluster_students(1)
    mine = await live_client(a.url, token=student["token"])
    held = await place_hold(b.url, student, tutor["id"], slot_start(hour=9))
    await mine.wait_for(lambda c: any(d["booking"]["id"] == held["id"] for d in c.of("booking.updated")))


async def test_failover_of_the_master_owning_a_hot_tutors_channel_loses_nothing(
        servers: list[LiveServer], capi: httpx.AsyncClient, cluster: LocalCluster, cluster_settings: Settings,
        cluster_students: Callable[[int], Awaitable[list[dict[str, Any]]]],
        live_client: Callable[..., Awaitable[LiveClient]]) -> None:
    a, b = servers
    tutor = await make_tutor(capi)
    channel = room_channel(cluster_settings, f"tutor:{tutor['id']}")
    students = await cluster_students(12)
    watcher = await live_client(b.url)
    ack = await watcher.watch(tutor["id"])
    await place_hold(a.url, students[0], tutor["id"], slot_start(hour=6))
    await watcher.wait_versions(tutor["id"], ack["version"] + 1)

    # Kill the shard's master while holds keep coming through the other process.
    async def hold_all() -> None:
        for hour, student in enumerate(students[1:], start=7):
            await place_hold(a.url, student, tutor["id"], slot_start(hour=hour))
            await asyncio.sleep(0.05)

    holding = asyncio.create_task(hold_all())
    victim = await cluster.kill_master_of(channel)
    await holding
    # The process that lost the shard closes the connections whose events may be gone; or its
    # subscription came through the failover (the promoted replica kept serving it) and every
    # version arrived. Either way the client then repairs: reconnect, watch with `since` the
    # last version it applied without a gap (docs/live.md: a later version after a gap is not
    # applied), and its view must equal the database's.
    final = ack["version"] + len(students)  # one version per hold

    def settled(c: LiveClient) -> bool:
        return bool(c.disconnects) or max(
            (e["version"] for e in c.changes_after_snapshot(tutor["id"])), default=0) >= final

    await watcher.wait_for(settled, within=30)
    applied, last = [], ack["version"]
    for event in sorted(watcher.changes_after_snapshot(tutor["id"]), key=lambda e: e["version"]):
        if event["version"] == last + 1:
            applied.append(event)
            last = event["version"]
    again = await live_client(b.url)
    missed = await again.watch(tutor["id"], since=last)
    view = _apply(_slots(ack), [applied, [missed] if "changes" in missed else []])
    if "slots" in missed:
        view = _slots(missed)
    truth = await get_slots(a.url, tutor["id"])
    received = sorted(e["version"] for e in watcher.changes_after_snapshot(tutor["id"]))
    assert view == _slots(truth), {"snapshot": ack["version"], "received": received, "since": last,
                                   "missed": {k: v for k, v in missed.items() if k != "slots"},
                                   "truth_version": truth["version"]}
    assert sum(1 for s in truth["slots"] if s["status"] == "held") == 12
    # And the subscription is live again on the new master: a later change arrives.
    version = missed["version"]
    [late] = await cluster_students(1)
    await place_hold(a.url, late, tutor["id"], slot_start(hour=20))
    await again.wait_versions(tutor["id"], version + 1, within=20)
    assert await subscribers(cluster, channel) == 1
    await cluster.restart(victim)


def _slots(listing: dict[str, Any]) -> dict[str, str]:
    return {s["start"]: s["status"] for s in listing["slots"]}


def _apply(view: dict[str, str], batches: list[list[dict[str, Any]]]) -> dict[str, str]:
    for batch in batches:
        for event in sorted(batch, key=lambda e: e["version"]):
            for change in event["changes"]:
                if change["start"] in view:
                    view[change["start"]] = change["status"]
    return view


async def test_a_channel_subscribed_again_on_a_shard_left_idle_is_confirmed_and_receives(
        cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process whose last room on a shard emptied, then got a new member there: the new
    ``SSUBSCRIBE`` must work. (redis-py health-checks an unsubscribed pub/sub connection with a
    PING it reads itself, racing the shard's reader task: the watch failed with internal_error.)"""
    monkeypatch.setattr(sharded, "HEALTH_CHECK_SECONDS", 0.5)  # a shorter idle spell than production's 5 s
    client = cluster.client()
    await client.initialize()
    received: list[tuple[bytes, bytes]] = []
    subs = sharded.ShardSubscriptions(client, lambda channel, data: received.append((channel, data)),
                                      lambda channels: None, connection_options={})
    channel = b"edustream-idle-shard:room:tutor:1"
    try:
        await subs.add(channel)
        await eventually(lambda: _equals(subscribers(cluster, channel.decode()), 1))
        await subs.remove(channel)
        await eventually(lambda: _equals(subscribers(cluster, channel.decode()), 0))
        await asyncio.sleep(1.0)  # the idle spell itself: time passing is the condition (longer is fine)
        await subs.add(channel)
        await eventually(lambda: _equals(subscribers(cluster, channel.decode()), 1))
        await client.spublish(channel, b"after")  # type: ignore[attr-defined]

        async def arrived() -> bool:
            return received == [(channel, b"after")]

        await eventually(arrived)
    finally:
        await subs.close()
        await client.aclose()
