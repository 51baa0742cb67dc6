"use client";

import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { useNow } from "@/lib/hooks";
import { fmtDateTime, fmtInZone, fmtMoney, fmtRangeInZone, relativeFromNow, userTimeZone } from "@/lib/time";
import type { Booking, BookingHistoryEntry, Tutor, User } from "@/lib/types";
import { isLapsedHold, StatusBadge } from "./booking-bits";
import { BookingMaterials } from "./booking-materials";
import { CancelDialog, RescheduleDialog } from "./booking-dialogs";
import { useLiveEvent, useOnReconnect } from "./live";
import { RequireAuth } from "./require-auth";
import { BookingReview } from "./reviews";
import { SeriesBadge, SeriesCard } from "./series";
import { usePublicConfig } from "./session";
import { Badge, Button, buttonClass, Card, EmptyState, PageHeader, Skeleton } from "./ui";

const JOIN_OPENS_MS = 15 * 60_000;

export function BookingDetailPage({ bookingId }: { bookingId: string }) {
  return <RequireAuth>{(user) => <BookingDetail bookingId={bookingId} user={user} />}</RequireAuth>;
}

type Load<T> = { state: "loading" } | { state: "ok"; value: T } | { state: "error"; message: string; notFound?: boolean };

function BookingDetail({ bookingId, user }: { bookingId: string; user: User }) {
  const now = useNow(1000) || Date.now();
  const config = usePublicConfig();
  const [booking, setBooking] = useState<Load<Booking>>({ state: "loading" });
  const [history, setHistory] = useState<BookingHistoryEntry[] | null>(null);
  const [tutor, setTutor] = useState<Tutor | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [rescheduling, setRescheduling] = useState(false);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const [b, events] = await Promise.all([api.bookings.get(bookingId, signal), api.bookings.events(bookingId, signal)]);
        setBooking({ state: "ok", value: b });
        setHistory(events.items);
      } catch (err) {
        if (signal?.aborted) return;
        const notFound = err instanceof ApiError && (err.status === 404 || err.status === 422);
        setBooking({
          state: "error",
          notFound,
          message: notFound ? "This booking does not exist, or it is not one of yours." : errorMessage(err),
        });
      }
    },
    [bookingId],
  );

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    return () => ac.abort();
  }, [load]);

  useOnReconnect(() => void load());
  useLiveEvent("booking.updated", ({ booking: b }) => {
    if (b.id === bookingId) void load();
  });

  const tutorId = booking.state === "ok" ? booking.value.tutor_id : null;
  useEffect(() => {
    if (!tutorId) return;
    const ac = new AbortController();
    api.tutors
      .get(tutorId, ac.signal)
      .then(setTutor)
      .catch(() => undefined);
    return () => ac.abort();
  }, [tutorId]);


  if (booking.state === "loading") {
    return (
      <div className="space-y-4" aria-busy="true" aria-label="Loading">
        <Skeleton className="h-8 w-72" />
        <Skeleton className="h-48 w-full rounded-2xl" />
        <Skeleton className="h-40 w-full rounded-2xl" />
      </div>
    );
  }
  if (booking.state === "error") {
    return (
      <EmptyState
        icon={booking.notFound ? "folder" : "sparkles"}
        title={booking.notFound ? "Booking not found" : "Couldn't load this booking"}
        action={
          <Link href="/bookings" className={buttonClass("primary")}>
            Back to my bookings
          </Link>
        }
      >
        <span data-testid="booking-error">{booking.message}</span>
      </EmptyState>
    );
  }

  const b = booking.value;
  const isStudent = user.id === b.student_id;
  const other = isStudent ? (b.tutor_name ?? tutor?.name ?? "your tutor") : (b.student_name ?? "your student");
  const viewerZone = userTimeZone();
  const tutorZone = tutor?.timezone ?? null;
  const startsIn = Date.parse(b.start) - now;
  const future = startsIn > 0;
  const joinOpen = b.status === "confirmed" && Boolean(b.join_url) && startsIn < JOIN_OPENS_MS && Date.parse(b.end) > now;
  const canCancel = future && (b.status === "confirmed" || (b.status === "held" && isStudent && !isLapsedHold(b, now)));
  const canReschedule = future && b.status === "confirmed";

  return (
    <div className="mx-auto max-w-4xl" data-testid="booking-detail" data-booking-id={b.id} data-status={b.status}>
      <p className="mb-3 text-sm">
        <Link href="/bookings" className="font-medium text-indigo-600 hover:text-indigo-700">
          ← All bookings
        </Link>
      </p>
      <PageHeader
        title={`Lesson with ${other}`}
        subtitle={
          <span className="inline-flex flex-wrap items-center gap-2">
            <StatusBadge status={b.status} booking={b} now={now} /> {b.trial && <Badge color="green">Trial lesson</Badge>}{" "}
            {b.series_id && <SeriesBadge />}{" "}
            {b.minutes} minutes · {fmtMoney(b.price_cents, b.currency)}
          </span>
        }
        actions={
          <>
            {canReschedule && (
              <Button variant="secondary" onClick={() => setRescheduling(true)} data-testid="reschedule">
                Reschedule
              </Button>
            )}
            {canCancel && (
              <Button variant="ghost" className="text-rose-700 hover:bg-rose-50" onClick={() => setCancelling(true)} data-testid="cancel">
                {b.status === "held" ? "Release hold" : "Cancel"}
              </Button>
            )}
          </>
        }
      />

      <div className="grid gap-6 md:grid-cols-2">
        <Card data-testid="booking-times">
          <h2 className="text-base font-semibold text-slate-900">When</h2>
          <dl className="mt-3 space-y-3 text-sm">
            <div>
              <dt className="text-slate-500">Your time ({viewerZone.replace(/_/g, " ")})</dt>
              <dd className="font-medium text-slate-900" data-testid="time-viewer">
                {fmtRangeInZone(b.start, b.end, viewerZone)}
              </dd>
            </div>
            {tutorZone && (
              <div>
                <dt className="text-slate-500">
                  {isStudent ? "Tutor's time" : "Your tutor profile's time"} ({tutorZone.replace(/_/g, " ")})
                </dt>
                <dd className="font-medium text-slate-900" data-testid="time-tutor">
                  {fmtRangeInZone(b.start, b.end, tutorZone)}
                </dd>
              </div>
            )}
          </dl>
          {(b.status === "confirmed" || b.status === "completed") && (
            <p className="mt-3 text-sm text-slate-600">
              {future ? `Starts ${relativeFromNow(b.start, now)}.` : `Started ${relativeFromNow(b.start, now)}.`}
            </p>
          )}
        </Card>

        <Card data-testid="booking-join">
          <h2 className="text-base font-semibold text-slate-900">Joining</h2>
          <div className="mt-3 space-y-3 text-sm text-slate-700">
            {b.status === "confirmed" && b.join_url ? (
              joinOpen ? (
                <a href={b.join_url} target="_blank" rel="noreferrer" className={buttonClass("success")} data-testid="join-link">
                  Join the lesson
                </a>
              ) : future ? (
                <p data-testid="join-later">The join link opens 15 minutes before the start ({fmtDateTime(new Date(Date.parse(b.start) - JOIN_OPENS_MS))}).</p>
              ) : (
                <p>The lesson is over.</p>
              )
            ) : b.status === "confirmed" ? (
              <p data-testid="join-none">A join link appears here once the meeting is set up.</p>
            ) : b.status === "held" && !isLapsedHold(b, now) ? (
              <p>Pay to confirm the lesson; the join link comes with the confirmation.</p>
            ) : (
              <p>There is nothing to join: this booking is {isLapsedHold(b, now) ? "a lapsed hold" : b.status}.</p>
            )}
            {b.status === "held" && isStudent && !isLapsedHold(b, now) && (
              <Link href={`/tutors/${encodeURIComponent(b.tutor_id)}`} className={buttonClass("primary", "sm")}>
                Complete payment
              </Link>
            )}
            {isLapsedHold(b, now) && isStudent && (
              <Link href={`/tutors/${encodeURIComponent(b.tutor_id)}`} className={buttonClass("secondary", "sm")}>
                Book again
              </Link>
            )}
            {b.status === "cancelled" && (
              <p data-testid="refund-result">
                {typeof b.refund_cents === "number" && b.refund_cents > 0
                  ? `Refund: ${fmtMoney(b.refund_cents, b.currency)}${b.payment_status === "refund_pending" ? " (on its way)" : ""}.`
                  : "No refund was due."}
                {b.cancel_reason ? ` Reason: “${b.cancel_reason}”.` : ""}
              </p>
            )}
          </div>
        </Card>
      </div>

      <SeriesCard booking={b} isStudent={isStudent} onChanged={() => void load()} />

      <Card className="mt-6" data-testid="booking-history">
        <h2 className="text-base font-semibold text-slate-900">History</h2>
        {history === null ? (
          <Skeleton className="mt-3 h-24 w-full" />
        ) : history.length === 0 ? (
          <p className="mt-3 text-sm text-slate-600">Nothing recorded yet.</p>
        ) : (
          <ol className="mt-3 space-y-3 border-l-2 border-slate-200 pl-4">
            {history.map((e, i) => (
              <li key={i} data-testid="history-entry" data-kind={e.kind} className="relative">
                <span aria-hidden="true" className="absolute -left-[1.4rem] top-1.5 h-2.5 w-2.5 rounded-full bg-indigo-500" />
                <p className="text-sm font-medium text-slate-900">{describeEvent(e, b, isStudent, viewerZone)}</p>
                <p className="text-xs text-slate-500">{fmtInZone(e.at, viewerZone)}</p>
              </li>
            ))}
          </ol>
        )}
      </Card>

      {b.status === "completed" && <BookingReview booking={b} viewerId={user.id} />}

      {config?.uploads && <BookingMaterials booking={b} viewerId={user.id} />}

      <CancelDialog
        booking={cancelling ? b : null}
        onClose={() => setCancelling(false)}
        onDone={() => {
          setCancelling(false);
          void load();
        }}
      />
      <RescheduleDialog
        booking={rescheduling ? b : null}
        onClose={() => setRescheduling(false)}
        onDone={() => {
          setRescheduling(false);
          void load();
        }}
      />
    </div>
  );
}

const STATUS_WORDS: Record<string, string> = {
  held: "on hold",
  confirmed: "confirmed",
  completed: "completed",
  expired: "expired",
  released: "released",
  cancelled: "cancelled",
};

/** One history row in words ("Cancelled by you — full refund of £45"). */
export function describeEvent(e: BookingHistoryEntry, b: Booking, viewerIsStudent: boolean, zone: string): string {
  const who =
    e.by === null || e.by === undefined
      ? null
      : (e.by === "student") === viewerIsStudent && e.by !== "other"
        ? "you"
        : e.by === "student"
          ? "the student"
          : e.by === "tutor"
            ? "the tutor"
            : "EduStream support";
  const by = who ? ` by ${who}` : "";
  const data = (e.data ?? {}) as Record<string, unknown>;
  switch (e.kind) {
    case "held":
      return `Time held${by}`;
    case "confirmed":
      return data.late ? "Payment arrived late; the lesson is confirmed" : `Paid and confirmed${by}`;
    case "rescheduled": {
      const to = typeof data.to === "string" ? fmtInZone(data.to, zone) : null;
      const from = typeof data.from === "string" ? fmtInZone(data.from, zone) : null;
      return from && to ? `Moved${by} from ${from} to ${to}` : `Moved${by}`;
    }
    case "cancelled": {
      const refund = typeof data.refund_cents === "number" ? data.refund_cents : null;
      const money = refund === null ? "" : refund > 0 ? ` — refund of ${fmtMoney(refund, b.currency)}` : " — no refund";
      const reason = typeof data.reason === "string" && data.reason ? ` (“${data.reason}”)` : "";
      return `Cancelled${by}${money}${reason}`;
    }
    case "released":
      return `Hold released${by}`;
    case "expired":
      return "The hold lapsed before payment";
    case "completed":
      return "Lesson completed";
    case "payment_refused":
      return "A payment came after the time was taken; it is refunded";
    case "refund_failed":
      return "The refund did not go through yet; we are retrying";
    case "hold_expiring":
      return "Reminder sent: the hold is about to lapse";
    case "session_alert":
      return data.sent === false ? "Reminder skipped" : "Reminder sent: the lesson starts soon";
    default: {
      const to = e.to_status && e.to_status !== e.from_status ? ` (now ${STATUS_WORDS[e.to_status] ?? e.to_status})` : "";
      return `${e.kind.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase())}${by}${to}`;
    }
  }
}
