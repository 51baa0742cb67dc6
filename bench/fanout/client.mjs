// Load client for the fan-out benchmark: many raw Engine.IO v4 / Socket.IO v5 WebSocket
// connections (the wire protocol socket.io-client 4 speaks) in one process, cheap enough
// per message that the servers, not this client, are what is measured.
//
// Reads one JSON command per line on stdin, answers one JSON line on stdout:
//   {"cmd":"connect","url":"http://127.0.0.1:8000","rooms":["tutor:…"],"per_room":5,"tag":"A"}
//   {"cmd":"reset"}   clear counters and latency histograms
//   {"cmd":"report"}  {"tags":{"A":{"count","p50","p99","max"}}, "received"}
//   {"cmd":"close"}
// Latency = receive time − the "t" (ms since the epoch, sub-ms) the server put first in
// each slots.changed payload; client and servers share this machine's clock.
import { WebSocket } from "ws";
import readline from "node:readline";

const BUCKET_MS = 0.05;
const BUCKETS = 200000; // up to 10 s
const now = () => performance.timeOrigin + performance.now();
const tags = new Map();
const sockets = [];
const closes = {}; // close code/reason → count, to tell a dropped connection from a slow one

function tagStats(tag) {
  if (!tags.has(tag)) tags.set(tag, { count: 0, hist: new Uint32Array(BUCKETS), over: 0, max: 0 });
  return tags.get(tag);
}

const PREFIX = '42/live,["slots.changed",{"t":';

function onMessage(ws, stats, data) {
  const m = data.toString();
  if (m === "2") { ws.send("3"); return; }
  if (m.startsWith(PREFIX)) {
    const end = m.indexOf(",", PREFIX.length);
    const lat = now() - parseFloat(m.slice(PREFIX.length, end));
    stats.count += 1;
    if (lat > stats.max) stats.max = lat;
    const b = Math.max(0, Math.floor(lat / BUCKET_MS));
    if (b < BUCKETS) stats.hist[b] += 1; else stats.over += 1;
    return;
  }
  if (ws.onAck && m.startsWith("43/live,")) { const cb = ws.onAck; ws.onAck = null; cb(); return; }
  if (m.startsWith("40/live,") && ws.onNs) { const cb = ws.onNs; ws.onNs = null; cb(); return; }
  if (m.startsWith("44/live,")) { console.error("connect_error", m); }
}

function open(url, room, stats) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`,
                             { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error(`timeout connecting to ${url}`)), 30000);
    ws.on("message", (data) => onMessage(ws, stats, data));
    ws.on("error", (err) => { clearTimeout(timer); reject(err); });
    ws.on("close", (code, reason) => {
      const key = `${code} ${reason}`;
      closes[key] = (closes[key] || 0) + 1;
    });
    ws.once("message", () => {
      ws.onNs = () => {
        ws.onAck = () => { clearTimeout(timer); resolve(ws); };
        ws.send(`42/live,1["watch",{"tutor_id":"${room.slice("tutor:".length)}"}]`);
      };
      ws.send("40/live,");
    });
  });
}

async function connect({ url, rooms, per_room, tag }) {
  const stats = tagStats(tag);
  const jobs = [];
  for (const room of rooms) for (let i = 0; i < per_room; i++) jobs.push(room);
  const batch = 100;
  for (let i = 0; i < jobs.length; i += batch) {
    const opened = await Promise.all(jobs.slice(i, i + batch).map((room) => open(url, room, stats)));
    sockets.push(...opened);
  }
  return { ok: true, connected: jobs.length, total: sockets.length };
}

function percentile(stats, q) {
  const total = stats.count;
  if (!total) return null;
  const target = Math.ceil(total * q);
  let seen = 0;
  for (let b = 0; b < BUCKETS; b++) {
    seen += stats.hist[b];
    if (seen >= target) return (b + 1) * BUCKET_MS;
  }
  return stats.max;
}

function report() {
  const out = {};
  let received = 0;
  for (const [tag, s] of tags) {
    received += s.count;
    out[tag] = { count: s.count, p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s.max };
  }
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  return { tags: out, received, open, closes };
}

const rl = readline.createInterface({ input: process.stdin });
const reply = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
rl.on("line", async (line) => {
  const cmd = JSON.parse(line);
  try {
    if (cmd.cmd === "connect") reply(await connect(cmd));
    else if (cmd.cmd === "reset") { for (const s of tags.values()) { s.count = 0; s.hist.fill(0); s.over = 0; s.max = 0; } reply({ ok: true }); }
    else if (cmd.cmd === "report") reply(report());
    else if (cmd.cmd === "close") { for (const ws of sockets) ws.terminate(); reply({ ok: true }); process.exit(0); }
  } catch (err) {
    reply({ error: String(err && err.stack || err) });
  }
});
