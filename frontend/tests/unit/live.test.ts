/**
 * Sequencing rules of the live client (gap → re-watch with `since`, queueing while a
 * watch is in flight, resync, reconnect), driven through a scripted socket double.
 * The real Socket.IO server is exercised by the browser tests against the backend.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Socket } from "socket.io-client";
import { LiveClient, tokenExpiryMs, type FeedEvent } from "../../lib/live";
import type { SlotChange } from "../../lib/types";

type Handler = (...args: unknown[]) => void;

interface Sent {
  event: string;
  payload: Record<string, unknown>;
  ack?: (ack: unknown) => void;
}

class ScriptedSocket {
  connected = false;
  active = true;
  sent: Sent[] = [];
  private handlers = new Map<string, Handler[]>();
  io = { engine: { close: () => this.drop() } };

  on(event: string, fn: Handler): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), fn]);
    return this;
  }
  removeAllListeners(): this {
    this.handlers.clear();
    return this;
  }
  timeout(_ms: number) {
    return {
      emit: (event: string, payload: Record<string, unknown>, cb: (err: Error | null, ack: unknown) => void) => {
        this.sent.push({ event, payload, ack: (ack) => cb(null, ack) });
      },
    };
  }
  emit(event: string, payload: Record<string, unknown>): this {
    this.sent.push({ event, payload });
    return this;
  }
  connect(): this {
    this.connected = true;
    this.fire("connect");
    return this;
  }
  disconnect(): this {
    this.connected = false;
    this.fire("disconnect", "io client disconnect");
    return this;
  }
  drop(): void {
    this.connected = false;
    this.fire("disconnect", "transport close");
  }
  fire(event: string, ...args: unknown[]): void {
    for (const fn of this.handlers.get(event) ?? []) fn(...args);
  }
  watches(): Sent[] {
    return this.sent.filter((s) => s.event === "watch");
  }
  lastWatch(): Sent {
    const w = this.watches();
    assert.ok(w.length, "no watch was sent");
    return w[w.length - 1];
  }
}

const T = "tutor-1";
const ch = (h: number, status: SlotChange["status"]): SlotChange => ({
  start: new Date(Date.UTC(2027, 2, 15, h)).toISOString(),
  end: new Date(Date.UTC(2027, 2, 15, h + 1)).toISOString(),
  status,
});

function setup() {
  const sock = new ScriptedSocket();
  const client = new LiveClient(
    () => "http://api.test/live",
    () => sock as unknown as Socket,
  );
  const events: FeedEvent[] = [];
  client.watch(T, (ev) => events.push(ev));
  sock.connect();
  return { sock, client, events };
}

function snapshotAt(sock: ScriptedSocket, version: number) {
  sock.lastWatch().ack?.({ tutor_id: T, version, slots: [] });
}

const changed = (version: number, changes: SlotChange[] = [ch(9, "held")], extra: Record<string, unknown> = {}) => ({
  tutor_id: T,
  version,
  changes,
  ...extra,
});

test("watch starts without since and the snapshot sets the version", () => {
  const { sock, client, events } = setup();
  assert.deepEqual(sock.lastWatch().payload, { tutor_id: T });
  snapshotAt(sock, 5);
  assert.equal(client.versionOf(T), 5);
  assert.deepEqual(events.map((e) => [e.kind, e.version]), [["snapshot", 5]]);
});

test("the next version is applied; duplicates and older versions are ignored", () => {
  const { sock, client, events } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(6));
  sock.fire("slots.changed", changed(6));
  sock.fire("slots.changed", changed(4));
  assert.equal(client.versionOf(T), 6);
  assert.deepEqual(events.map((e) => [e.kind, e.version]), [
    ["snapshot", 5],
    ["changes", 6],
  ]);
  assert.equal(sock.watches().length, 1);
});

test("a gap re-watches with since and applies the missed changes", () => {
  const { sock, client, events } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(8));
  assert.deepEqual(sock.lastWatch().payload, { tutor_id: T, since: 5 });
  sock.lastWatch().ack?.({ tutor_id: T, version: 8, changes: [ch(9, "held"), ch(10, "booked")] });
  assert.equal(client.versionOf(T), 8);
  sock.fire("slots.changed", changed(9));
  assert.deepEqual(events.map((e) => [e.kind, e.version]), [
    ["snapshot", 5],
    ["changes", 8],
    ["changes", 9],
  ]);
});

test("events that arrive during a watch are replayed in order after the ack", () => {
  const { sock, client, events } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(8));
  sock.fire("slots.changed", changed(10));
  sock.fire("slots.changed", changed(9));
  sock.lastWatch().ack?.({ tutor_id: T, version: 8, changes: [] });
  assert.equal(client.versionOf(T), 10);
  assert.deepEqual(
    events.map((e) => e.version),
    [5, 8, 9, 10],
  );
  assert.equal(sock.watches().length, 2);
});

test("a snapshot answer to since replaces the state", () => {
  const { sock, client, events } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(50));
  sock.lastWatch().ack?.({ tutor_id: T, version: 50, slots: [{ ...ch(11, "open"), status: "open" }] });
  assert.equal(client.versionOf(T), 50);
  assert.equal(events[events.length - 1].kind, "snapshot");
});

test("a reconnect re-watches with since the last version", () => {
  const { sock, client } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(6));
  sock.drop();
  sock.connect();
  assert.deepEqual(sock.lastWatch().payload, { tutor_id: T, since: 6 });
  sock.lastWatch().ack?.({ tutor_id: T, version: 7, changes: [ch(9, "open")] });
  assert.equal(client.versionOf(T), 7);
});

test("resync re-watches without since", () => {
  const { sock, client } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(6, [], { resync: true }));
  assert.deepEqual(sock.lastWatch().payload, { tutor_id: T });
  snapshotAt(sock, 6);
  assert.equal(client.versionOf(T), 6);
});

test("an error ack is reported and does not move the version", () => {
  const { sock, client } = setup();
  const errors: string[] = [];
  client.onWatchError((_t, m) => errors.push(m));
  sock.lastWatch().ack?.({ error: { code: "not_found", message: "No such tutor." } });
  assert.deepEqual(errors, ["No such tutor."]);
  assert.equal(client.versionOf(T), null);
});

test("changesSince merges the log for a view that loaded over REST", () => {
  const { sock, client } = setup();
  snapshotAt(sock, 5);
  sock.fire("slots.changed", changed(6, [ch(9, "held")]));
  sock.fire("slots.changed", changed(7, [ch(9, "open")]));
  assert.deepEqual(client.changesSince(T, 5), { version: 7, changes: [ch(9, "held"), ch(9, "open")] });
  assert.deepEqual(client.changesSince(T, 6), { version: 7, changes: [ch(9, "open")] });
  assert.equal(client.changesSince(T, 7), null);
  assert.equal(client.changesSince(T, 3), "stale");
});

test("the last listener leaving unwatches the tutor", () => {
  const sock = new ScriptedSocket();
  const client = new LiveClient(
    () => "http://api.test/live",
    () => sock as unknown as Socket,
  );
  const off = client.watch(T, () => undefined);
  sock.connect();
  off();
  assert.deepEqual(sock.sent[sock.sent.length - 1], { event: "unwatch", payload: { tutor_id: T } });
});

test("tokenExpiryMs reads a JWT's exp claim (and gives up on anything else)", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "u", exp: 1_900_000_000 })).toString("base64url");
  assert.equal(tokenExpiryMs(`h.${payload}.s`), 1_900_000_000_000);
  assert.equal(tokenExpiryMs("not-a-token"), null);
  const noExp = Buffer.from(JSON.stringify({ sub: "u" })).toString("base64url");
  assert.equal(tokenExpiryMs(`h.${noExp}.s`), null);
});
