/**
 * Live client for the Socket.IO namespace `/live`.
 *
 * One socket per tab. Per watched tutor it keeps `version` and the slot state of the
 * default window, and guarantees its listeners a gap-free stream:
 * - `slots.changed` with `version === last + 1` is applied; an older one is ignored;
 * - a gap, or any reconnect, re-sends `watch {tutor_id, since: last}`; the ack is
 *   either `{version, changes}` (applied) or a full snapshot `{version, slots}` (replaces);
 * - events that arrive while a watch is in flight are queued and replayed after the ack;
 * - a payload with `resync: true` re-watches without `since`.
 * It also fans out the user events (`booking.*`, `hold.expiring`, `session.starting`, `payout.updated`,
 * `notification.*`, `instant.*`, `message.new`, `message.read`).
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { getAccessToken, refreshSession } from "./api";
import { apiUrl } from "./config";
import { applyChanges, toSlotMap } from "./slots";
import type {
  BookingEvent,
  CreditsUpdatedEvent,
  HoldExpiringEvent,
  NotificationNewEvent,
  NotificationsReadEvent,
  MessageNewEvent,
  MessageReadEvent,
  InstantAcceptedEvent,
  InstantEndedEvent,
  WaitlistOfferEvent,
  WaitlistUpdatedEvent,
  InstantRequestEvent,
  PayoutUpdatedEvent,
  SessionStartingEvent,
  Slot,
  SlotChange,
  SlotsChangedEvent,
} from "./types";

export type FeedEvent =
  | { kind: "snapshot"; tutorId: string; version: number; slots: Slot[] }
  | { kind: "changes"; tutorId: string; version: number; changes: SlotChange[] };

export type FeedListener = (ev: FeedEvent) => void;

export type ConnectionState = "idle" | "connecting" | "live" | "offline";

export interface UserEvents {
  "booking.updated": BookingEvent;
  "booking.new": BookingEvent;
  "hold.expiring": HoldExpiringEvent;
  "session.starting": SessionStartingEvent;
  "payout.updated": PayoutUpdatedEvent;
  "credits.updated": CreditsUpdatedEvent;
  "notification.new": NotificationNewEvent;
  "notifications.read": NotificationsReadEvent;
  "message.new": MessageNewEvent;
  "message.read": MessageReadEvent;
  "instant.request": InstantRequestEvent;
  "instant.accepted": InstantAcceptedEvent;
  "instant.taken": InstantEndedEvent;
  "instant.expired": InstantEndedEvent;
  "instant.cancelled": InstantEndedEvent;
  "instant.declined": InstantEndedEvent;
  "waitlist.offer": WaitlistOfferEvent;
  "waitlist.updated": WaitlistUpdatedEvent;
}

type UserEventName = keyof UserEvents;
const USER_EVENTS: UserEventName[] = [
  "booking.updated",
  "booking.new",
  "hold.expiring",
  "session.starting",
  "payout.updated",
  "credits.updated",
  "notification.new",
  "notifications.read",
  "message.new",
  "message.read",
  "instant.request",
  "instant.accepted",
  "instant.taken",
  "instant.expired",
  "instant.cancelled",
  "instant.declined",
  "waitlist.offer",
  "waitlist.updated",
];

interface LogEntry {
  version: number;
  changes: SlotChange[];
}

interface Watch {
  tutorId: string;
  listeners: Set<FeedListener>;
  version: number | null;
  slots: Map<string, Slot>;
  /** Versions after `baseline` are all in `log` (capped). */
  baseline: number | null;
  log: LogEntry[];
  inFlight: number;
  queue: SlotsChangedEvent[];
  needFull: boolean;
  attempt: number;
  error: string | null;
}

type AckPayload =
  | { tutor_id?: string; version: number; slots: Slot[] }
  | { tutor_id?: string; version: number; changes: SlotChange[] }
  | { error: { code?: string; message?: string } };

const ACK_TIMEOUT_MS = 8000;
// Refresh the access token this long before it expires and hand it to the open connection
// (`auth` event), so the server never has to drop the connection for an expired token.
const REAUTH_LEAD_MS = 60_000;

/** The `exp` claim of a JWT, in ms since the epoch (null when unreadable). */
export function tokenExpiryMs(token: string): number | null {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}
const LOG_LIMIT = 500;

export class LiveClient {
  private socket: Socket | null = null;
  private watches = new Map<string, Watch>();
  private stateListeners = new Set<(s: ConnectionState) => void>();
  private reconnectListeners = new Set<() => void>();
  private userListeners = new Map<UserEventName, Set<(p: never) => void>>();
  private errorListeners = new Set<(tutorId: string, message: string) => void>();
  private state: ConnectionState = "idle";
  private everConnected = false;
  private seq = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private refusedOnce = false;
  private reauthTimer: ReturnType<typeof setTimeout> | null = null;
  private revoked = false;

  constructor(
    private readonly url: () => string = () => `${apiUrl()}/live`,
    private readonly makeSocket: (url: string, opts: Partial<ManagerOptions & SocketOptions>) => Socket = io,
  ) {}

  /** Open the socket (idempotent). */
  connect(): void {
    if (this.socket) return;
    const socket = this.makeSocket(this.url(), {
      withCredentials: true,
      transports: ["websocket", "polling"],
      // Evaluated on every (re)connect, so a refreshed token is used at once.
      auth: (cb) => {
        const token = getAccessToken();
        cb(token ? { token } : {});
      },
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket = socket;
    this.setState("connecting");

    socket.on("connect", () => {
      const reconnect = this.everConnected;
      this.everConnected = true;
      this.refusedOnce = false;
      this.setState("live");
      if (reconnect) this.emitReconnect();
      this.scheduleReauth();
      // After a drop anything may have been missed: catch up from the last version.
      for (const w of this.watches.values()) this.sendWatch(w, true);
    });
    socket.on("disconnect", (reason) => {
      this.setState("offline");
      this.clearReauth();
      for (const w of this.watches.values()) w.inFlight = 0;
      if (reason === "io server disconnect") void this.afterServerDisconnect();
    });
    // The server ends a connection whose sign-in was revoked (signed out elsewhere, password
    // changed, account suspended) or whose token expired: refresh before reconnecting, so a
    // revoked sign-in reconnects anonymously instead of with its last access token.
    socket.on("session.revoked", () => {
      this.revoked = true;
    });
    socket.on("session.expired", () => {
      this.revoked = true;
    });
    socket.on("connect_error", (err: Error) => {
      this.setState("offline");
      // A refused handshake (bad or expired token) does not auto-retry: refresh, then retry.
      if (!socket.active) void this.recoverRefused(err);
    });
    socket.on("slots.changed", (p: SlotsChangedEvent) => this.onSlotsChanged(p));
    for (const name of USER_EVENTS) {
      socket.on(name, (payload: unknown) => {
        const set = this.userListeners.get(name);
        if (set) for (const fn of set) (fn as (p: unknown) => void)(payload);
      });
    }
  }

  /** Close the socket and forget every watch. */
  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.clearReauth();
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
    this.everConnected = false;
    this.setState("idle");
  }

  /** Reconnect so the server sees the current identity (after sign in / sign out). */
  reconnectWithNewAuth(): void {
    const s = this.socket;
    if (!s) return;
    s.disconnect();
    s.connect();
  }

  /** Simulate a dropped connection (used by tests and the dev console). */
  dropConnection(): void {
    this.socket?.io.engine?.close();
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  onConnectionState(fn: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  /** Called after every re-connection (not the first connection). */
  onReconnect(fn: () => void): () => void {
    this.reconnectListeners.add(fn);
    return () => this.reconnectListeners.delete(fn);
  }

  on<K extends UserEventName>(name: K, fn: (payload: UserEvents[K]) => void): () => void {
    let set = this.userListeners.get(name);
    if (!set) {
      set = new Set();
      this.userListeners.set(name, set);
    }
    set.add(fn as (p: never) => void);
    return () => set.delete(fn as (p: never) => void);
  }

  onWatchError(fn: (tutorId: string, message: string) => void): () => void {
    this.errorListeners.add(fn);
    return () => this.errorListeners.delete(fn);
  }

  /** Watch a tutor's slots. The listener gets every snapshot and change, in order. */
  watch(tutorId: string, listener: FeedListener): () => void {
    this.connect();
    let w = this.watches.get(tutorId);
    if (!w) {
      w = {
        tutorId,
        listeners: new Set(),
        version: null,
        slots: new Map(),
        baseline: null,
        log: [],
        inFlight: 0,
        queue: [],
        needFull: false,
        attempt: 0,
        error: null,
      };
      this.watches.set(tutorId, w);
      if (this.socket?.connected) this.sendWatch(w, false);
    }
    w.listeners.add(listener);
    if (w.version !== null) listener({ kind: "snapshot", tutorId, version: w.version, slots: [...w.slots.values()] });
    const watch = w;
    return () => {
      watch.listeners.delete(listener);
      if (watch.listeners.size === 0 && this.watches.get(tutorId) === watch) {
        this.watches.delete(tutorId);
        if (this.socket?.connected) this.socket.emit("unwatch", { tutor_id: tutorId });
      }
    };
  }

  /** Last version seen for a tutor (null before the first snapshot). */
  versionOf(tutorId: string): number | null {
    return this.watches.get(tutorId)?.version ?? null;
  }

  /**
   * Changes after `version`, merged, for a view that loaded its own window over REST.
   * `null` when nothing is newer; `"stale"` when the log does not reach back that far.
   */
  changesSince(tutorId: string, version: number): { version: number; changes: SlotChange[] } | "stale" | null {
    const w = this.watches.get(tutorId);
    if (!w || w.version === null || w.version <= version) return null;
    if (w.baseline === null || version < w.baseline) return "stale";
    const entries = w.log.filter((e) => e.version > version);
    if (!entries.length || entries[0].version !== version + 1) return "stale";
    return { version: w.version, changes: entries.flatMap((e) => e.changes) };
  }

  // ---- internals ----------------------------------------------------------------

  private setState(s: ConnectionState): void {
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private emitReconnect(): void {
    for (const fn of this.reconnectListeners) fn();
  }

  private async afterServerDisconnect(): Promise<void> {
    if (this.revoked) {
      this.revoked = false;
      await refreshSession();
      this.scheduleManualReconnect(200);
      return;
    }
    this.scheduleManualReconnect();
  }

  private clearReauth(): void {
    if (this.reauthTimer) clearTimeout(this.reauthTimer);
    this.reauthTimer = null;
  }

  /** Before the connection's token expires: refresh it and send it in-band (`auth`). */
  private scheduleReauth(): void {
    this.clearReauth();
    const token = getAccessToken();
    const expiry = token ? tokenExpiryMs(token) : null;
    if (expiry === null) return;
    const delay = Math.max(expiry - Date.now() - REAUTH_LEAD_MS, 1000);
    this.reauthTimer = setTimeout(() => void this.reauth(), delay);
  }

  private async reauth(): Promise<void> {
    this.reauthTimer = null;
    const socket = this.socket;
    if (!socket?.connected) return;
    if (!(await refreshSession())) return; // signed out: the server ends the connection at expiry
    const token = getAccessToken();
    if (!token || !socket.connected) return;
    socket.emit("auth", { token }, () => this.scheduleReauth());
  }

  private scheduleManualReconnect(delay = 1000): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.socket && !this.socket.connected) this.socket.connect();
    }, delay);
  }

  private async recoverRefused(err: Error): Promise<void> {
    if (!this.refusedOnce) {
      this.refusedOnce = true;
      // A failed refresh clears the token: the retry is then anonymous (public slots still work).
      await refreshSession();
      this.scheduleManualReconnect(200);
      return;
    }
    if (typeof console !== "undefined") console.warn("live: connection refused:", err.message);
    this.scheduleManualReconnect(5000);
  }

  private sendWatch(w: Watch, withSince: boolean): void {
    const socket = this.socket;
    if (!socket?.connected) return;
    const useSince = withSince && w.version !== null && !w.needFull;
    const payload: { tutor_id: string; since?: number } = { tutor_id: w.tutorId };
    if (useSince && w.version !== null) payload.since = w.version;
    w.needFull = false;
    const id = ++this.seq;
    w.inFlight = id;
    socket.timeout(ACK_TIMEOUT_MS).emit("watch", payload, (err: Error | null, ack: AckPayload) => {
      if (this.watches.get(w.tutorId) !== w || w.inFlight !== id) return; // superseded
      w.inFlight = 0;
      if (err) {
        this.retryWatch(w, useSince);
        return;
      }
      this.handleAck(w, ack);
    });
  }

  private retryWatch(w: Watch, withSince: boolean): void {
    w.attempt += 1;
    const delay = Math.min(5000, 300 * 2 ** Math.min(w.attempt, 4));
    setTimeout(() => {
      if (this.watches.get(w.tutorId) === w && !w.inFlight) this.sendWatch(w, withSince);
    }, delay);
  }

  private handleAck(w: Watch, ack: AckPayload): void {
    if (!ack || typeof ack !== "object") {
      this.retryWatch(w, true);
      return;
    }
    if ("error" in ack) {
      w.error = ack.error?.message ?? "Could not watch this tutor.";
      for (const fn of this.errorListeners) fn(w.tutorId, w.error);
      return;
    }
    w.attempt = 0;
    w.error = null;
    if ("slots" in ack && Array.isArray(ack.slots)) {
      w.slots = toSlotMap(ack.slots);
      w.version = ack.version;
      w.baseline = ack.version;
      w.log = [];
      this.emit(w, { kind: "snapshot", tutorId: w.tutorId, version: ack.version, slots: ack.slots });
    } else if ("changes" in ack && Array.isArray(ack.changes)) {
      if (w.version === null || ack.version > w.version) {
        this.record(w, ack.version, ack.changes);
      }
    } else {
      this.retryWatch(w, false);
      return;
    }
    if (w.needFull) {
      w.queue = [];
      this.sendWatch(w, false);
      return;
    }
    const queued = w.queue.sort((a, b) => a.version - b.version);
    w.queue = [];
    for (const ev of queued) {
      this.onSlotsChanged(ev);
      if (w.inFlight) break; // a new gap: the re-watch will catch up the rest
    }
  }

  private record(w: Watch, version: number, changes: SlotChange[]): void {
    w.slots = applyChanges(w.slots, changes);
    w.version = version;
    w.log.push({ version, changes });
    if (w.log.length > LOG_LIMIT) {
      const dropped = w.log.splice(0, w.log.length - LOG_LIMIT);
      w.baseline = dropped[dropped.length - 1].version;
    }
    this.emit(w, { kind: "changes", tutorId: w.tutorId, version, changes });
  }

  private onSlotsChanged(ev: SlotsChangedEvent): void {
    if (!ev || typeof ev.tutor_id !== "string") return;
    const w = this.watches.get(ev.tutor_id);
    if (!w) return;
    if (ev.resync) {
      if (w.inFlight) w.needFull = true;
      else {
        w.needFull = true;
        this.sendWatch(w, false);
      }
      return;
    }
    if (w.inFlight) {
      w.queue.push(ev);
      return;
    }
    if (w.version === null) {
      w.queue.push(ev);
      this.sendWatch(w, false);
      return;
    }
    if (ev.version <= w.version) return; // already applied
    if (ev.version === w.version + 1) {
      this.record(w, ev.version, ev.changes ?? []);
      return;
    }
    w.queue.push(ev);
    this.sendWatch(w, true);
  }

  private emit(w: Watch, ev: FeedEvent): void {
    for (const fn of [...w.listeners]) fn(ev);
  }
}

let shared: LiveClient | null = null;

/** The tab's one live client (browser only). */
export function liveClient(): LiveClient {
  if (!shared) {
    shared = new LiveClient();
    if (typeof window !== "undefined") (window as unknown as { __edustreamLive?: LiveClient }).__edustreamLive = shared;
  }
  return shared;
}
