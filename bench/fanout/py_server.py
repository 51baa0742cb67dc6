"""The EduStream side of the fan-out benchmark: our Socket.IO server on the real code path.

    .venv/bin/python -m bench.fanout.py_server --port P --redis-url URL --channel C [--stock] [--ws IMPL]

Serves ``/live`` with :func:`realtime.server.create_sio` and a namespace whose ``watch``
joins the tutor's room without reading slots from a database (the Node reference does the
same), so what is measured is connection handling and fan-out. Broadcasts go through the
exact path the outbox relay uses (``publisher_for(manager)``: ``LiveRedisManager.broadcast``,
or the stock ``AsyncRedisManager.emit`` with ``--stock``).

``POST /bench/broadcast {"rooms", "rate", "seconds", "changes"}`` emits ``rate`` slots.changed
per second for ``seconds`` (round-robin over rooms) and answers ``{"sent"}`` when done.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from realtime.internals import start_manager
from realtime.limits import ConnectionState
from realtime.manager import Broadcast, LiveRedisManager
from realtime.namespace import LiveNamespace
from realtime.server import create_sio, publisher_for
from server.outbox import tutor_room
from server.settings import Settings


class BenchNamespace(LiveNamespace):
    """``/live`` with the real connect, limits and error handling; ``watch`` skips the database."""

    async def on_watch(self, sid: str, state: ConnectionState, data: Any) -> dict[str, Any]:
        room = tutor_room(data["tutor_id"])
        state.watching.add(room)
        await self.enter_room(sid, room)
        return {"tutor_id": data["tutor_id"], "version": 0, "slots": []}


def build(settings: Settings) -> socketio.ASGIApp:
    sio = create_sio(settings)
    sio.register_namespace(BenchNamespace(settings, state=None))
    publish = publisher_for(sio.manager)
    fast = sio.manager if isinstance(sio.manager, LiveRedisManager) else None
    versions: dict[str, int] = {}
    keys = itertools.count(1)  # like outbox row ids: unique across every broadcast of the process

    async def broadcast(request: Request) -> JSONResponse:
        spec = await request.json()
        rooms, rate, seconds, changes = spec["rooms"], float(spec["rate"]), float(spec["seconds"]), spec["changes"]
        total, sent, started = round(rate * seconds), 0, time.perf_counter()
        wall0 = time.time() * 1000 - started * 1000  # perf_counter → epoch ms, sub-ms resolution
        pending: list[Awaitable[None]] = []
        while sent < total:
            due = min(total, int((time.perf_counter() - started) * rate) + 1)
            while sent < due:
                room = rooms[sent % len(rooms)]
                versions[room] = version = versions.get(room, 0) + 1
                # Stamped with the time it was due, so an emitter falling behind shows as latency.
                payload = {"t": wall0 + (started + sent / rate) * 1000, "tutor_id": room[6:], "version": version,
                           "changes": changes}
                item = Broadcast("slots.changed", json.dumps(payload, separators=(",", ":")), room, "/live",
                                 next(keys))
                if fast is not None:
                    pending.append(fast.broadcast_nowait([item]))  # like Node's emit: no wait per message
                else:
                    await publish([item])
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending)
        return JSONResponse({"sent": sent})

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        start_manager(sio)
        if isinstance(sio.manager, LiveRedisManager):
            async with asyncio.timeout(10):
                await sio.manager.wait_ready()
        else:
            await asyncio.sleep(0.5)
        yield

    app = Starlette(routes=[Route("/bench/broadcast", broadcast, methods=["POST"]), Route("/healthz", healthz)],
                    lifespan=lifespan)
    return socketio.ASGIApp(sio, other_asgi_app=app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--stock", action="store_true", help="python-socketio's stock AsyncRedisManager")
    parser.add_argument("--ws", default="auto", help="uvicorn WebSocket implementation")
    args = parser.parse_args()
    settings = Settings(database_url="postgresql://unused/unused", redis_url=args.redis_url,
                        live_redis_channel=args.channel, live_fast_fanout=not args.stock,
                        live_allow_polling=False, live_max_queued_packets=100_000, cors_origins=[])
    def serve() -> None:
        uvicorn.run(build(settings), host="127.0.0.1", port=args.port, ws=args.ws, log_level="warning",
                    access_log=False, lifespan="on", backlog=4096)

    profile = os.environ.get("FANOUT_PROFILE")  # a path: write a cProfile of this server there on exit
    if profile:
        import cProfile

        cProfile.runctx("serve()", globals(), {"serve": serve}, f"{profile}.{args.port}")
    else:
        serve()


if __name__ == "__main__":
    main()
