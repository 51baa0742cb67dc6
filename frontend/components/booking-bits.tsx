"use client";

import { useEffect, useState } from "react";
import { api } from "@/lib/api";
import { fmtMonthShort } from "@/lib/time";
import type { Booking, BookingStatus } from "@/lib/types";
import { Badge } from "./ui";

const STATUS: Record<BookingStatus, { label: string; color: "indigo" | "green" | "amber" | "rose" | "slate" | "sky" }> = {
  held: { label: "On hold", color: "amber" },
  confirmed: { label: "Confirmed", color: "green" },
  completed: { label: "Completed", color: "sky" },
  expired: { label: "Expired", color: "slate" },
  released: { label: "Released", color: "slate" },
  cancelled: { label: "Cancelled", color: "rose" },
};

/** A booking's status in words; a lapsed unpaid hold whose time is still ahead reads "Hold lapsed". */
export function StatusBadge({ status, booking, now }: { status: BookingStatus; booking?: Booking; now?: number }) {
  const lapsed = booking !== undefined && isLapsedHold(booking, now ?? Date.now());
  const s = lapsed ? { label: "Hold lapsed", color: "amber" as const } : (STATUS[status] ?? { label: status, color: "slate" as const });
  return (
    <Badge color={s.color} className="whitespace-nowrap">
      <span data-testid="booking-status" data-lapsed={lapsed || undefined}>
        {s.label}
      </span>
    </Badge>
  );
}

export function DateBlock({ iso }: { iso: string }) {
  const d = new Date(iso);
  return (
    <div aria-hidden="true" className="flex h-14 w-14 shrink-0 flex-col items-center justify-center rounded-xl bg-indigo-50 text-indigo-700">
      <span className="text-[11px] font-semibold uppercase">{fmtMonthShort(d)}</span>
      <span className="text-xl font-bold leading-none">{d.getDate()}</span>
    </div>
  );
}

const nameCache = new Map<string, Promise<string | null>>();

function tutorName(id: string): Promise<string | null> {
  let p = nameCache.get(id);
  if (!p) {
    p = api.tutors
      .get(id)
      .then((t) => t.name ?? null)
      .catch(() => {
        nameCache.delete(id);
        return null;
      });
    nameCache.set(id, p);
  }
  return p;
}

/** Tutor names for the bookings shown, when the booking itself does not carry them. */
export function useTutorNames(bookings: Booking[]): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  const missing = [...new Set(bookings.filter((b) => !b.tutor_name).map((b) => b.tutor_id))].sort().join(",");
  useEffect(() => {
    if (!missing) return;
    let alive = true;
    for (const id of missing.split(",")) {
      void tutorName(id).then((n) => {
        if (alive && n) setNames((prev) => (prev[id] === n ? prev : { ...prev, [id]: n }));
      });
    }
    return () => {
      alive = false;
    };
  }, [missing]);
  return names;
}

export function upsertBooking(list: Booking[], b: Booking): Booking[] {
  const i = list.findIndex((x) => x.id === b.id);
  if (i === -1) return [...list, b].sort((x, y) => Date.parse(x.start) - Date.parse(y.start));
  const next = list.slice();
  next[i] = { ...list[i], ...b };
  return next;
}

/** A hold that lapsed unpaid (status `expired`, or `held` past its `expires_at`) for a time still ahead. */
export function isLapsedHold(b: Booking, now: number): boolean {
  const lapsed = b.status === "expired" || (b.status === "held" && Boolean(b.expires_at) && Date.parse(b.expires_at ?? "") <= now);
  return lapsed && Date.parse(b.start) > now;
}

/** A live hold or a confirmed lesson not over yet. */
export function isUpcoming(b: Booking, now: number): boolean {
  if (b.status === "held") return !b.expires_at || Date.parse(b.expires_at) > now;
  return b.status === "confirmed" && Date.parse(b.end) > now;
}

/** Filed under "Upcoming": upcoming bookings, and lapsed holds whose time has not come (issue 20). */
export function filedAsUpcoming(b: Booking, now: number): boolean {
  return isUpcoming(b, now) || isLapsedHold(b, now);
}
