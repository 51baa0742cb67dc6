// Connects to /live with socket.io-client 4 (the browser client) as a signed-in student and
// prints one JSON line per step: {"ready": true} once connected, then {"event":
// "waitlist.offer", "data": ...} when a slot is handed to them from a waitlist, and exits.
// Usage: node offer.mjs <base-url> <token>
import { io } from "socket.io-client";

const [url, token] = process.argv.slice(2);

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
socket.on("connect", () => print({ ready: true }));
socket.on("waitlist.offer", (data) => {
  print({ event: "waitlist.offer", data });
  socket.close();
  process.exit(0);
});
