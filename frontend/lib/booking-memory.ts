/**
 * What this tab last knew about each booking, so a `booking.updated` event can be told
 * apart as new, a status change, or a reschedule (same status, new start); and which
 * bookings this tab itself just changed, whose events need no second announcement.
 */
import type { Booking, BookingStatus } from "./types";

interface Known {
  status: BookingStatus;
  start: number;
}

const known = new Map<string, Known>();
const localActions = new Map<string, number>();
const LOCAL_ACTION_MS = 15_000;

export function rememberBookings(list: readonly Booking[]): void {
  for (const b of list) known.set(b.id, { status: b.status, start: Date.parse(b.start) });
}

export type BookingChange = "new" | "status" | "rescheduled" | "same";

/** Classify an incoming booking against what was known, then remember it. */
export function classifyAndRemember(b: Booking): BookingChange {
  const prev = known.get(b.id);
  rememberBookings([b]);
  if (!prev) return "new";
  if (prev.status !== b.status) return "status";
  return prev.start !== Date.parse(b.start) ? "rescheduled" : "same";
}

/** Note that this tab is changing a booking (cancel, reschedule, release). */
export function markLocalAction(bookingId: string): void {
  localActions.set(bookingId, Date.now());
}

export function isLocalAction(bookingId: string): boolean {
  const at = localActions.get(bookingId);
  if (at === undefined) return false;
  if (Date.now() - at > LOCAL_ACTION_MS) {
    localActions.delete(bookingId);
    return false;
  }
  return true;
}
