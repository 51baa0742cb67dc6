// Connects to /live with socket.io-client 4 (the browser client) as a signed-in user and prints
// one JSON line per step: {"connected": true} once connected, then {"event": <name>, "data": ...}
// for every server event received (personal events included), and exits after `count` events
// whose names are listed in `events` (comma-separated).
// Usage: node listen.mjs <base-url> <token> <events> [count]
import { io } from "socket.io-client";

const [url, token, eventsArg, countArg] = process.argv.slice(2);
const wanted = new Set(eventsArg.split(","));
const count = Number(countArg || 1);
let seen = 0;

const socket = io(`${url}/live`, {
  transports: ["websocket"],
  reconnection: false,
  auth: { token },
  timeout: 10000,
});

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (why) => { print({ error: String(why) }); process.exit(1); };
setTimeout(() => fail("timed out"), 60000).unref();

socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("connect", () => print({ connected: true }));
socket.onAny((event, data) => {
  print({ event, data });
  if (wanted.has(event)) {
    seen += 1;
    if (seen >= count) { socket.close(); process.exit(0); }
  }
});
