"use client";

import { useEffect, useState } from "react";
import { api } from "@/lib/api";
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

export function StatusBadge({ status }: { status: BookingStatus }) {
  const s = STATUS[status] ?? { label: status, color: "slate" as const };
  return (
    <Badge color={s.color} className="whitespace-nowrap">
      <span data-testid="booking-status">{s.label}</span>
    </Badge>
  );
}

export function DateBlock({ iso }: { iso: string }) {
  const d = new Date(iso);
  return (
    <div aria-hidden="true" className="flex h-14 w-14 shrink-0 flex-col items-center justify-center rounded-xl bg-indigo-50 text-indigo-700">
      <span className="text-[11px] font-semibold uppercase">{d.toLocaleDateString(undefined, { month: "short" })}</span>
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

export function isUpcoming(b: Booking, now: number): boolean {
  if (b.status === "held") return !b.expires_at || Date.parse(b.expires_at) > now;
  return b.status === "confirmed" && Date.parse(b.end) > now;
}
