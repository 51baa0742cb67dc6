"use client";

import Link from "next/link";
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useNow } from "@/lib/hooks";
import { slotKey } from "@/lib/slots";
import { fmtDateTime, ordinal } from "@/lib/time";
import type { Booking, Slot, WaitlistEntry } from "@/lib/types";
import { useLiveEvent, useOnReconnect } from "./live";
import { OfferCard, OfferStack } from "./offer-card";
import { useSession } from "./session";
import { useToast } from "./toast";
import { buttonClass } from "./ui";

export interface LineState {
  /** Students waiting for the slot. */
  waiting: number;
  /** The viewer's own waiting entry for it, if any. */
  mine?: WaitlistEntry;
}

/**
 * The lines on one tutor's slots (for "Join the line (you'd be 2nd)") and the viewer's own
 * entries, kept current from `waitlist.offer`/`waitlist.updated` and a slow refresh.
 */
export function useTutorLines(tutorId: string, minutes: number | undefined) {
  const { user } = useSession();
  const toast = useToast();
  const [counts, setCounts] = useState<Map<string, number>>(new Map());
  const [mine, setMine] = useState<Map<string, WaitlistEntry>>(new Map());
  const [joining, setJoining] = useState<string | null>(null);
  const student = user?.role === "student";

  const reload = useCallback(() => {
    if (!student) return;
    void api.waitlist
      .lines(tutorId)
      .then((r) => setCounts(new Map(r.lines.map((l) => [`${slotKey(l.start)}|${slotKey(l.end)}`, l.waiting]))))
      .catch(() => undefined);
    void api.waitlist
      .mine()
      .then((r) =>
        setMine(
          new Map(
            r.items
              .filter((e) => e.tutor_id === tutorId && e.status === "waiting")
              .map((e) => [`${slotKey(e.start)}|${slotKey(e.end)}`, e]),
          ),
        ),
      )
      .catch(() => undefined);
  }, [student, tutorId]);

  useEffect(() => {
    reload();
    const t = window.setInterval(reload, 15_000);
    return () => window.clearInterval(t);
  }, [reload]);
  useOnReconnect(reload);
  useLiveEvent("waitlist.updated", (e) => {
    if (e.entry.tutor_id === tutorId) reload();
  });
  useLiveEvent("waitlist.offer", (e) => {
    if (e.booking.tutor_id === tutorId) reload();
  });

  const keyOf = useCallback(
    (slot: Slot) => {
      const end = minutes ? new Date(Date.parse(slot.start) + minutes * 60_000).toISOString() : slot.end;
      return `${slotKey(slot.start)}|${slotKey(end)}`;
    },
    [minutes],
  );

  const lineFor = useCallback(
    (slot: Slot): LineState => ({ waiting: counts.get(keyOf(slot)) ?? 0, mine: mine.get(keyOf(slot)) }),
    [counts, mine, keyOf],
  );

  const join = useCallback(
    async (slot: Slot) => {
      const length = minutes ?? Math.round((Date.parse(slot.end) - Date.parse(slot.start)) / 60_000);
      setJoining(slotKey(slot.start));
      try {
        const entry = await api.waitlist.join({ tutor_id: tutorId, start: slot.start, minutes: length });
        setMine((m) => new Map(m).set(keyOf(slot), entry));
        toast.push({
          kind: "success",
          title: `You're ${ordinal(entry.position ?? 1)} in line`,
          body: "If the slot frees up it is held for you at once; we'll tell you here.",
        });
        reload();
      } catch (err) {
        toast.push({ kind: "warning", title: "Couldn't join the line", body: errorMessage(err) });
        reload();
      } finally {
        setJoining(null);
      }
    },
    [minutes, tutorId, keyOf, reload, toast],
  );

  return { enabled: student, lineFor, join, joining };
}

/** Under a held slot: join its line, or where you are in it. */
export function JoinLine({
  slot,
  line,
  busy,
  onJoin,
}: {
  slot: Slot;
  line: LineState;
  busy: boolean;
  onJoin: (slot: Slot) => void;
}) {
  if (line.mine) {
    return (
      <p className="text-center text-[11px] font-medium text-amber-800" data-testid="line-position">
        You&apos;re {ordinal(line.mine.position ?? 1)} in line
      </p>
    );
  }
  return (
    <button
      type="button"
      data-testid="join-line"
      data-start={slotKey(slot.start)}
      disabled={busy}
      onClick={() => onJoin(slot)}
      className="w-full rounded-md px-1 py-0.5 text-[11px] font-semibold text-indigo-700 underline-offset-2 hover:underline disabled:opacity-50"
    >
      Join the line (you&apos;d be {ordinal(line.waiting + 1)})
    </button>
  );
}

/** The `waitlist.offer` toast: the slot is yours, with the time left to pay and a Pay now button. */
export function WaitlistOffers() {
  const now = useNow(500);
  const [offers, setOffers] = useState<Booking[]>([]);
  useLiveEvent("waitlist.offer", ({ booking }) => {
    setOffers((list) => [...list.filter((b) => b.id !== booking.id), booking]);
  });
  useLiveEvent("booking.updated", ({ booking }) => {
    if (booking.status !== "held") setOffers((list) => list.filter((b) => b.id !== booking.id));
  });
  const t = now || Date.now();
  const open = useMemo(
    () => offers.filter((b) => b.expires_at && Date.parse(b.expires_at) > t),
    [offers, t],
  );
  if (open.length === 0) return null;
  const dismiss = (id: string) => setOffers((list) => list.filter((x) => x.id !== id));
  return (
    <OfferStack label="Waitlist offers">
      {open.map((b) => (
        <OfferCard
          key={b.id}
          testId="waitlist-offer"
          attributes={{ "data-booking-id": b.id }}
          tone="indigo"
          title="The slot you waited for is yours"
          detail={`${b.tutor_name ?? "Your tutor"} · ${fmtDateTime(b.start)} · held for you`}
          action={
            <Link
              href={`/tutors/${encodeURIComponent(b.tutor_id)}`}
              data-testid="waitlist-offer-pay"
              className={buttonClass("primary", "sm")}
              onClick={() => dismiss(b.id)}
            >
              Pay now
            </Link>
          }
          expiresAt={b.expires_at ?? ""}
          now={t}
          timeLeftLabel="left to pay"
          dismiss={{ label: "Dismiss", onClick: () => dismiss(b.id) }}
        />
      ))}
    </OfferStack>
  );
}
