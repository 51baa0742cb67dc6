// Connects to /live with socket.io-client 4 (the browser client), watches one tutor and
// prints one JSON line per step: {"ack": ...} once watching, then {"event": "slots.changed",
// "data": ...} for each change, and exits after `count` changes (or 1 by default).
// Usage: node watch.mjs <base-url> <tutor-id> [count] [token]
import { io } from "socket.io-client";

const [url, tutorId, countArg, token] = process.argv.slice(2);
const wanted = Number(countArg || 1);
let seen = 0;

const socket = io(`${url}/live`, {
  transports: ["websocket"],
  reconnection: false,
  auth: token ? { token } : undefined,
  timeout: 10000,
});

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (why) => { print({ error: String(why) }); process.exit(1); };
setTimeout(() => fail("timed out"), 30000).unref();

socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("slots.changed", (data) => {
  print({ event: "slots.changed", data });
  seen += 1;
  if (seen >= wanted) { socket.close(); process.exit(0); }
});
socket.on("connect", async () => {
  try {
    const ack = await socket.timeout(10000).emitWithAck("watch", { tutor_id: tutorId });
    print({ ack });
  } catch (err) {
    fail(`watch: ${err}`);
  }
});
