"use client";

import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { useNow } from "@/lib/hooks";
import { fmtCountdown, fmtMoney, fmtRange, minutesBetween, userTimeZone } from "@/lib/time";
import type { Booking, User } from "@/lib/types";
import { DateBlock, filedAsUpcoming, isLapsedHold, isUpcoming, StatusBadge, upsertBooking, useTutorNames } from "./booking-bits";
import { CancelDialog, RescheduleDialog } from "./booking-dialogs";
import { useLiveEvent, useOnReconnect } from "./live";
import { messageHref } from "./messages";
import { RequireAuth } from "./require-auth";
import { useToast } from "./toast";
import { Alert, Button, buttonClass, cx, EmptyState, PageHeader, Skeleton } from "./ui";

export function BookingsPage() {
  return <RequireAuth>{(user) => <Bookings user={user} />}</RequireAuth>;
}

function Bookings({ user }: { user: User }) {
  const now = useNow(1000);
  const toast = useToast();
  const [items, setItems] = useState<Booking[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [tab, setTab] = useState<"upcoming" | "past">("upcoming");
  const [cancelling, setCancelling] = useState<Booking | null>(null);
  const [rescheduling, setRescheduling] = useState<Booking | null>(null);
  const names = useTutorNames(items ?? []);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const page = await api.bookings.list({ limit: 50 }, signal);
      setItems(page.items);
      setCursor(page.next_cursor ?? null);
      setError(null);
    } catch (err) {
      if (signal?.aborted) return;
      setError(errorMessage(err));
      setItems((prev) => prev ?? []);
    }
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    return () => ac.abort();
  }, [load]);

  async function loadMore() {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api.bookings.list({ cursor, limit: 50 });
      setItems((prev) => page.items.reduce(upsertBooking, prev ?? []));
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      toast.push({ kind: "error", title: "Couldn't load more bookings", body: errorMessage(err) });
    } finally {
      setLoadingMore(false);
    }
  }

  useOnReconnect(() => void load());
  useLiveEvent("booking.updated", ({ booking }) => setItems((prev) => (prev ? upsertBooking(prev, booking) : prev)));
  useLiveEvent("booking.new", ({ booking }) => setItems((prev) => (prev ? upsertBooking(prev, booking) : prev)));

  const t = now || Date.now();
  const zone = now ? userTimeZone() : null; // the browser's zone, known after mount (never in SSR)
  const upcoming = (items ?? []).filter((b) => filedAsUpcoming(b, t)).sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const past = (items ?? []).filter((b) => !filedAsUpcoming(b, t)).sort((a, b) => Date.parse(b.start) - Date.parse(a.start));
  const shown = tab === "upcoming" ? upcoming : past;

  return (
    <div>
      <PageHeader
        title={user.role === "tutor" ? "Your sessions" : "My bookings"}
        subtitle={<span data-testid="bookings-zone">{zone ? `Times shown in your zone (${zone}).` : "\u00a0"}</span>}
        actions={
          user.role === "student" ? (
            <Link href="/" className={buttonClass("primary")}>
              Book a lesson
            </Link>
          ) : undefined
        }
      />

      <div role="tablist" aria-label="Bookings" className="mb-5 inline-flex rounded-xl bg-slate-100 p-1">
        {(
          [
            ["upcoming", `Upcoming (${upcoming.length})`],
            ["past", `Past & cancelled (${past.length})`],
          ] as const
        ).map(([key, label]) => (
          <button
            key={key}
            type="button"
            role="tab"
            id={`tab-${key}`}
            aria-selected={tab === key}
            aria-controls={`panel-${key}`}
            onClick={() => setTab(key)}
            data-testid={`tab-${key}`}
            className={cx(
              "rounded-lg px-4 py-2 text-sm font-medium",
              tab === key ? "bg-white text-indigo-700 shadow-sm" : "text-slate-600 hover:text-slate-900",
            )}
          >
            {label}
          </button>
        ))}
      </div>

      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {error && (
          <div className="mb-4">
            <Alert title="Couldn't load your bookings">{error}</Alert>
          </div>
        )}
        {items === null ? (
          <BookingListSkeleton />
        ) : shown.length === 0 ? (
          tab === "upcoming" ? (
            <EmptyState
              icon="calendar"
              title="No upcoming lessons"
              action={
                user.role === "student" ? (
                  <Link href="/" className={buttonClass("primary")}>
                    Find a tutor
                  </Link>
                ) : undefined
              }
            >
              {user.role === "student"
                ? "When you book a lesson it shows up here, with a join link before it starts."
                : "Bookings appear here as soon as students book you."}
            </EmptyState>
          ) : (
            <EmptyState icon="folder" title="Nothing here yet">
              Finished, cancelled and expired bookings are kept here.
            </EmptyState>
          )
        ) : (
          <ul className="space-y-3" data-testid="booking-list">
            {shown.map((b) => (
              <BookingRow
                key={b.id}
                booking={b}
                user={user}
                now={t}
                who={user.role === "tutor" ? (b.student_name ?? "Student") : (b.tutor_name ?? names[b.tutor_id] ?? "Your tutor")}
                onCancel={() => setCancelling(b)}
                onReschedule={() => setRescheduling(b)}
              />
            ))}
          </ul>
        )}
        {cursor && (
          <div className="mt-6 flex justify-center">
            <Button variant="secondary" onClick={loadMore} loading={loadingMore}>
              Load more
            </Button>
          </div>
        )}
      </div>

      <CancelDialog
        booking={cancelling}
        onClose={() => setCancelling(null)}
        onDone={(b) => {
          setItems((prev) => (prev ? upsertBooking(prev, b) : prev));
          setCancelling(null);
        }}
      />
      <RescheduleDialog
        booking={rescheduling}
        onClose={() => setRescheduling(null)}
        onDone={(b) => {
          setItems((prev) => (prev ? upsertBooking(prev, b) : prev));
          setRescheduling(null);
        }}
      />
    </div>
  );
}

function BookingRow({
  booking: b,
  user,
  now,
  who,
  onCancel,
  onReschedule,
}: {
  booking: Booking;
  user: User;
  now: number;
  who: string;
  onCancel: () => void;
  onReschedule: () => void;
}) {
  const upcoming = isUpcoming(b, now);
  const startsIn = Date.parse(b.start) - now;
  const joinable = b.status === "confirmed" && b.join_url && startsIn < 15 * 60_000 && Date.parse(b.end) > now;
  return (
    <li
      data-testid="booking-row"
      data-booking-id={b.id}
      data-status={b.status}
      className="flex flex-col gap-4 rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200/80 sm:flex-row sm:items-center"
    >
      <div className="flex min-w-0 flex-1 items-center gap-4">
        <DateBlock iso={b.start} />
        <div className="min-w-0">
          <div className="flex flex-wrap items-center gap-2">
            <p className="truncate font-semibold text-slate-900">
              {user.role === "student" ? (
                <Link href={`/tutors/${encodeURIComponent(b.tutor_id)}`} className="hover:text-indigo-700">
                  {who}
                </Link>
              ) : (
                who
              )}
            </p>
            <StatusBadge status={b.status} booking={b} now={now} />
          </div>
          <p className="text-sm text-slate-600">
            {fmtRange(b.start, b.end)} · {b.minutes ?? minutesBetween(b.start, b.end)} min · {fmtMoney(b.price_cents, b.currency)}
          </p>
          {b.status === "held" && b.expires_at && upcoming && (
            <p className="text-xs font-medium text-amber-700">
              Held for <span className="tabular-nums">{fmtCountdown(Date.parse(b.expires_at) - now)}</span> — pay to confirm
            </p>
          )}
          {b.status === "cancelled" && typeof b.refund_cents === "number" && (
            <p className="text-xs text-slate-500">Refund: {fmtMoney(b.refund_cents, b.currency)}</p>
          )}
          {isLapsedHold(b, now) && (
            <p className="text-xs font-medium text-amber-700" data-testid="hold-lapsed">
              This hold lapsed before payment; the time may still be free.
            </p>
          )}
        </div>
      </div>
      <div className="flex flex-wrap gap-2 sm:justify-end">
        <Link href={`/bookings/${encodeURIComponent(b.id)}`} className={buttonClass("ghost", "sm")} data-testid="booking-details">
          Details
        </Link>
        {user.role === "tutor" && (
          <Link href={messageHref(b.student_id, b.student_name)} className={buttonClass("ghost", "sm")} data-testid="message-student">
            Message student
          </Link>
        )}
        {isLapsedHold(b, now) && user.role === "student" && (
          <Link href={`/tutors/${encodeURIComponent(b.tutor_id)}`} className={buttonClass("secondary", "sm")}>
            Book again
          </Link>
        )}
      </div>
      {upcoming && (
        <div className="flex flex-wrap gap-2 sm:justify-end">
          {b.status === "held" && user.role === "student" && (
            <Link href={`/tutors/${encodeURIComponent(b.tutor_id)}`} className={buttonClass("primary", "sm")}>
              Complete payment
            </Link>
          )}
          {b.status === "confirmed" && (
            <>
              {b.join_url &&
                (joinable ? (
                  <a href={b.join_url} target="_blank" rel="noreferrer" className={buttonClass("success", "sm")} data-testid="join-link">
                    Join now
                  </a>
                ) : (
                  <span className="self-center text-xs text-slate-500">Join link opens 15 min before</span>
                ))}
              <Button variant="secondary" size="sm" onClick={onReschedule} data-testid="reschedule">
                Reschedule
              </Button>
              <Button variant="ghost" size="sm" onClick={onCancel} className="text-rose-700 hover:bg-rose-50" data-testid="cancel">
                Cancel
              </Button>
            </>
          )}
        </div>
      )}
    </li>
  );
}

function BookingListSkeleton() {
  return (
    <div className="space-y-3" aria-hidden="true">
      {Array.from({ length: 3 }, (_, i) => (
        <div key={i} className="flex items-center gap-4 rounded-2xl bg-white p-4 ring-1 ring-slate-200/80">
          <Skeleton className="h-14 w-14 rounded-xl" />
          <div className="flex-1 space-y-2">
            <Skeleton className="h-4 w-1/3" />
            <Skeleton className="h-3 w-1/2" />
          </div>
          <Skeleton className="h-8 w-24" />
        </div>
      ))}
    </div>
  );
}
