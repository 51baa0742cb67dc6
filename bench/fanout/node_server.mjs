// Reference server: Node socket.io 4 with @socket.io/redis-adapter, doing what the EduStream
// API does on /live for the benchmark: `watch` joins `tutor:<id>`, and broadcasts of
// slots.changed go to a room on every process through Redis.
//   PORT=… REDIS_URL=redis://… CHANNEL=… node node_server.mjs
// POST /bench/broadcast {"rooms":[…],"rate":N,"seconds":S,"changes":[…]} emits N per second
// for S seconds (round-robin over rooms) and answers {"sent"} when done.
import http from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const now = () => performance.timeOrigin + performance.now();
const port = Number(process.env.PORT);
const pub = createClient({ url: process.env.REDIS_URL });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const versions = new Map();

async function broadcast(spec) {
  const { rooms, rate, seconds, changes } = spec;
  const total = Math.round(rate * seconds);
  const started = now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((now() - started) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const room = rooms[sent % rooms.length];
      const version = (versions.get(room) || 0) + 1;
      versions.set(room, version);
      // Stamped with the time it was due, so an emitter falling behind shows as latency.
      const due_t = started + (sent / rate) * 1000;
      live.to(room).emit("slots.changed", { t: due_t, tutor_id: room.slice(6), version, changes });
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return { sent };
}

const httpServer = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/bench/broadcast") {
    let body = "";
    req.on("data", (c) => { body += c; });
    req.on("end", async () => {
      const out = await broadcast(JSON.parse(body));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(out));
    });
    return;
  }
  if (req.url === "/healthz") { res.writeHead(200); res.end("ok"); return; }
  res.writeHead(404); res.end();
});

const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
io.adapter(createAdapter(pub, sub, { key: process.env.CHANNEL || "socket.io" }));
const live = io.of("/live");
live.on("connection", (socket) => {
  socket.on("watch", (data, ack) => {
    socket.join(`tutor:${data.tutor_id}`);
    if (typeof ack === "function") ack({ tutor_id: data.tutor_id, version: 0, slots: [] });
  });
});
httpServer.listen(port, "127.0.0.1");
