// Idle live connections opened the way the EduStream frontend opens them: the npm
// socket.io-client 4 (engine.io-client over `ws` in Node), one Manager per connection
// (forceNew: a browser tab has its own), transports ["websocket", "polling"] as in
// frontend/lib/live.ts, namespace /live, then one `watch` of a tutor with its ack.
//
//   node idle_clients.mjs '{"urls":["http://127.0.0.1:8000"],"per_url":5000,"tutors":["…"],"batch":0}'
//
// Every URL gets `per_url` connections, all started at once (the storm a deploy or a
// reconnect wave causes). Prints one JSON line when every connection has settled:
//   {"connected","watched","failed","errors":{message: count},"seconds"}
// then keeps the connections open until a line "close" arrives on stdin (or stdin ends),
// disconnects them all and prints {"closed": n}.
import { io } from "socket.io-client";
import readline from "node:readline";

const spec = JSON.parse(process.argv[2]);
const namespace = spec.namespace ?? "/live";
const tutors = spec.tutors ?? [];
const timeout = spec.timeout_ms ?? 120000;
const sockets = [];
const errors = {};
let connected = 0;
let watched = 0;
let failed = 0;
const started = performance.now();

function fail(message) {
  failed += 1;
  errors[message] = (errors[message] || 0) + 1;
}

// engine.io-client puts the transport's own error (ECONNREFUSED, a 4xx answer...) in `description`.
function describe(err) {
  const d = err.description;
  if (!d) return "";
  return ` (${d.message || d.error?.message || d.code || String(d)})`;
}

function open(url, index) {
  return new Promise((resolve) => {
    const socket = io(`${url}${namespace}`, {
      forceNew: true,
      transports: ["websocket", "polling"],
      reconnection: false,
      timeout,
      ...(spec.token ? { auth: { token: spec.token } } : {}),
    });
    sockets.push(socket);
    const timer = setTimeout(() => { fail("timeout"); resolve(); }, timeout);
    socket.once("connect_error", (err) => { clearTimeout(timer); fail(`connect_error: ${err.message}${describe(err)}`); resolve(); });
    socket.once("connect", async () => {
      connected += 1;
      if (tutors.length === 0) { clearTimeout(timer); resolve(); return; }
      try {
        const ack = await socket.timeout(timeout).emitWithAck("watch", { tutor_id: tutors[index % tutors.length] });
        if (ack && ack.error) fail(`watch: ${ack.error.code}`); else watched += 1;
      } catch (err) {
        fail(`watch: ${err.message}`);
      }
      clearTimeout(timer);
      resolve();
    });
  });
}

// `batch` > 0 opens that many at a time (for a server slowed down by a profiler); 0 = all at once.
const targets = [];
for (const url of spec.urls) for (let i = 0; i < spec.per_url; i++) targets.push([url, targets.length]);
const batch = spec.batch || targets.length;
for (let i = 0; i < targets.length; i += batch) {
  await Promise.all(targets.slice(i, i + batch).map(([url, index]) => open(url, index)));
}
const open_now = sockets.filter((s) => s.connected).length;
console.log(JSON.stringify({ connected, open: open_now, watched, failed, errors,
                             seconds: (performance.now() - started) / 1000 }));

let closing = false;
function closeAll() {
  if (closing) return;
  closing = true;
  for (const s of sockets) s.disconnect();
  console.log(JSON.stringify({ closed: sockets.length }));
  setTimeout(() => process.exit(0), 200);
}
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => { if (line.trim() === "close") closeAll(); });
rl.on("close", closeAll);
