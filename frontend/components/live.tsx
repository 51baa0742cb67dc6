"use client";

import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { liveClient, type ConnectionState, type LiveClient, type UserEvents } from "@/lib/live";
import { classifyAndRemember, isLocalAction } from "@/lib/booking-memory";
import type { Booking, SessionStartingEvent } from "@/lib/types";
import { fmtDateTime, fmtTime } from "@/lib/time";
import { Icon } from "./icons";
import { useSession } from "./session";
import { useToast } from "./toast";

interface LiveApi {
  client: LiveClient | null;
  state: ConnectionState;
  banner: SessionStartingEvent | null;
  setBanner: (b: SessionStartingEvent | null) => void;
}

const LiveContext = createContext<LiveApi>({ client: null, state: "idle", banner: null, setBanner: () => undefined });

export function useLive(): LiveApi {
  return useContext(LiveContext);
}

/** Subscribe to a user event for the life of the component; the handler may change freely. */
export function useLiveEvent<K extends keyof UserEvents>(name: K, handler: (payload: UserEvents[K]) => void): void {
  const { client } = useLive();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => {
    if (!client) return;
    return client.on(name, (p) => ref.current(p));
  }, [client, name]);
}

export function LiveProvider({ children }: { children: ReactNode }) {
  const [client, setClient] = useState<LiveClient | null>(null);
  const [state, setState] = useState<ConnectionState>("idle");
  const [banner, setBanner] = useState<SessionStartingEvent | null>(null);
  const { user } = useSession();
  const lastUserId = useRef<string | null | undefined>(undefined);

  useEffect(() => {
    const c = liveClient();
    c.connect();
    setClient(c);
    return c.onConnectionState(setState);
  }, []);

  // The socket authenticates at handshake: reconnect when the signed-in user changes.
  useEffect(() => {
    if (!client || user === undefined) return;
    const id = user?.id ?? null;
    if (lastUserId.current !== undefined && lastUserId.current !== id) client.reconnectWithNewAuth();
    lastUserId.current = id;
  }, [client, user]);

  return (
    <LiveContext.Provider value={{ client, state, banner, setBanner }}>
      {children}
      <LiveNotifications />
    </LiveContext.Provider>
  );
}

function describe(b: Booking): string {
  return fmtDateTime(b.start);
}

/** Turns user events into toasts and the session-starting banner. */
function LiveNotifications() {
  const { user } = useSession();
  const toast = useToast();
  const { setBanner } = useLive();

  useLiveEvent("booking.new", ({ booking }) => {
    classifyAndRemember(booking);
    if (user?.role !== "tutor") return;
    const held = booking.status === "held";
    const weekly = booking.series_id ? "Weekly lessons: " : "";
    toast.push({
      kind: held ? "info" : "success",
      title: held ? `${weekly ? "Weekly lessons held" : "New hold"} on your calendar` : weekly ? "New weekly lessons" : "New booking",
      body: `${booking.student_name ?? "A student"} · ${weekly ? "every week from " : ""}${describe(booking)}`,
      action: { label: "Open dashboard", href: "/tutor/dashboard" },
      // A weekly series arrives as one event per lesson: one toast for all of them.
      dedupeKey: booking.series_id ? `series:${booking.series_id}:${booking.status}` : `${booking.id}:${booking.status}:${booking.start}`,
    });
  });

  useLiveEvent("booking.updated", ({ booking }) => {
    const change = classifyAndRemember(booking);
    // The page that made the change already said so; and a repeat says nothing new.
    if (change === "same" || isLocalAction(booking.id)) return;
    const tutor = user?.role === "tutor";
    const who = tutor ? `${booking.student_name ?? "A student"} · ` : "";
    const messages: Partial<Record<Booking["status"], { kind: "success" | "info" | "warning"; title: string }>> = {
      confirmed: { kind: "success", title: tutor ? "Booking confirmed" : "You're booked!" },
      cancelled: { kind: "warning", title: "Booking cancelled" },
      expired: { kind: "warning", title: "Hold expired" },
      released: { kind: "info", title: "Hold released" },
      completed: { kind: "info", title: "Lesson completed" },
    };
    const m = change === "rescheduled" ? { kind: "info" as const, title: "Lesson rescheduled" } : messages[booking.status];
    if (!m) return;
    // A weekly series changes lesson by lesson in one go: one toast for the series.
    const series = booking.series_id && change !== "rescheduled";
    toast.push({
      kind: m.kind,
      title: series ? `${m.title} (weekly lessons)` : m.title,
      body: `${who}${series ? "from " : ""}${describe(booking)}`,
      action: tutor ? undefined : { label: "My bookings", href: "/bookings" },
      dedupeKey: series ? `series:${booking.series_id}:${booking.status}` : `${booking.id}:${booking.status}:${booking.start}`,
    });
  });

  useLiveEvent("hold.expiring", ({ booking_id, expires_at }) => {
    toast.push({
      kind: "warning",
      title: "Your hold is about to expire",
      body: `Pay before ${fmtTime(expires_at)} to keep the slot.`,
      dedupeKey: `expiring:${booking_id}`,
    });
  });

  useLiveEvent("session.starting", (ev) => setBanner(ev));
  return null;
}

/** The session-starting alert with the join link; sits above the header, in the sticky bar. */
export function SessionBanner() {
  const { banner, setBanner } = useLive();
  if (!banner) return null;
  return (
    <div
      data-testid="session-banner"
      role="alert"
      className="flex flex-wrap items-center justify-center gap-3 bg-gradient-to-r from-indigo-600 to-violet-600 px-4 py-2.5 text-sm text-white shadow"
    >
      <Icon name="calendar" className="h-5 w-5" />
      <span className="font-semibold">
        Your session starts {banner.minutes_before <= 1 ? "in a minute" : `in ${banner.minutes_before} minutes`} (
        {fmtTime(banner.starts_at)}).
      </span>
      {banner.join_url ? (
        <a
          data-testid="session-join"
          href={banner.join_url}
          target="_blank"
          rel="noreferrer"
          className="rounded-full bg-white px-4 py-1.5 font-semibold text-indigo-700 hover:bg-indigo-50"
        >
          Join session
        </a>
      ) : (
        <span className="text-indigo-100">The join link will appear in My bookings.</span>
      )}
      <button
        type="button"
        onClick={() => setBanner(null)}
        aria-label="Dismiss session alert"
        className="rounded-full px-2 py-1 text-indigo-100 hover:bg-white/10 hover:text-white"
      >
        <span aria-hidden="true">✕</span>
      </button>
    </div>
  );
}

/** Run `fn` after every re-connection of the live socket (user events may have been missed). */
export function useOnReconnect(fn: () => void): void {
  const { client } = useLive();
  const ref = useRef(fn);
  useEffect(() => {
    ref.current = fn;
  });
  useEffect(() => {
    if (!client) return;
    return client.onReconnect(() => ref.current());
  }, [client]);
}
