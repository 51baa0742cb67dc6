// Connects to /live with socket.io-client 4 (the browser client) as a signed-in user and prints
// one JSON line per step: {"ready": true} once connected, then {"event", "data"} for each
// message.new / message.read, and exits after `count` of them.
// Usage: node messages.mjs <base-url> <token> <count>
import { io } from "socket.io-client";

const [url, token, countArg] = process.argv.slice(2);
const wanted = Number(countArg || 1);
let seen = 0;

const socket = io(`${url}/live`, { transports: ["websocket"], reconnection: false, auth: { token }, timeout: 10000 });

const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (why) => { print({ error: String(why) }); process.exit(1); };
setTimeout(() => fail("timed out"), 30000).unref();

socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("connect", () => print({ ready: true }));
for (const name of ["message.new", "message.read"]) {
  socket.on(name, (data) => {
    print({ event: name, data });
    seen += 1;
    if (seen >= wanted) { socket.close(); process.exit(0); }
  });
}
