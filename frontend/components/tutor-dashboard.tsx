"use client";

import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { useNow } from "@/lib/hooks";
import { fmtCountdown, fmtMoney, fmtRange, fmtTime, minutesBetween, relativeFromNow } from "@/lib/time";
import type { Booking, User } from "@/lib/types";
import { DateBlock, StatusBadge, upsertBooking } from "./booking-bits";
import { AvailableNowToggle } from "./instant";
import { useLive, useLiveEvent, useOnReconnect } from "./live";
import { messageHref } from "./messages";
import { RequireAuth } from "./require-auth";
import { Alert, buttonClass, Card, cx, EmptyState, PageHeader, Skeleton } from "./ui";
import { LiveDot } from "./week-view";

interface Activity {
  id: number;
  at: number;
  kind: "new" | "updated";
  booking: Booking;
}

export function TutorDashboardPage() {
  return <RequireAuth role="tutor">{(user) => <Dashboard user={user} />}</RequireAuth>;
}

function Dashboard({ user }: { user: User }) {
  const now = useNow(1000);
  const { state } = useLive();
  const [upcoming, setUpcoming] = useState<Booking[] | null>(null);
  const [holds, setHolds] = useState<Booking[] | null>(null);
  const [activity, setActivity] = useState<Activity[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [profileMissing, setProfileMissing] = useState(false);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const [confirmed, held] = await Promise.all([
        api.bookings.list({ status: "confirmed", limit: 50 }, signal),
        api.bookings.list({ status: "held", limit: 50 }, signal),
      ]);
      setUpcoming(confirmed.items);
      setHolds(held.items);
      setError(null);
    } catch (err) {
      if (signal?.aborted) return;
      setError(errorMessage(err));
      setUpcoming((u) => u ?? []);
      setHolds((h) => h ?? []);
    }
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    api.tutors.me(ac.signal).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) setProfileMissing(true);
    });
    return () => ac.abort();
  }, [load]);

  useOnReconnect(() => void load());

  const markFresh = (id: string) => {
    setFresh((s) => new Set(s).add(id));
    setTimeout(
      () =>
        setFresh((s) => {
          const n = new Set(s);
          n.delete(id);
          return n;
        }),
      2500,
    );
  };

  const ingest = (booking: Booking, kind: Activity["kind"]) => {
    setActivity((a) => {
      // booking.new and booking.updated may both announce one change: list it once.
      if (a.some((x) => x.booking.id === booking.id && x.booking.status === booking.status)) return a;
      return [{ id: Date.now() + Math.random(), at: Date.now(), kind, booking }, ...a].slice(0, 30);
    });
    markFresh(booking.id);
    setHolds((list) => {
      const rest = (list ?? []).filter((b) => b.id !== booking.id);
      return booking.status === "held" ? upsertBooking(rest, booking) : rest;
    });
    setUpcoming((list) => {
      const rest = (list ?? []).filter((b) => b.id !== booking.id);
      return booking.status === "confirmed" ? upsertBooking(rest, booking) : rest;
    });
  };

  useLiveEvent("booking.new", ({ booking }) => ingest(booking, "new"));
  useLiveEvent("booking.updated", ({ booking }) => ingest(booking, "updated"));

  const t = now || Date.now();
  const upcomingNow = (upcoming ?? []).filter((b) => Date.parse(b.end) > t).sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const holdsNow = (holds ?? []).filter((b) => !b.expires_at || Date.parse(b.expires_at) > t);
  const weekAhead = upcomingNow.filter((b) => Date.parse(b.start) < t + 7 * 86_400_000);
  const earnings = weekAhead.reduce((sum, b) => sum + (b.price_cents || 0), 0);
  const currency = weekAhead[0]?.currency ?? upcomingNow[0]?.currency ?? "USD";
  const next = upcomingNow[0];

  return (
    <div>
      <PageHeader
        title={`Hi ${user.name.split(" ")[0]}!`}
        subtitle={
          <span className="inline-flex items-center gap-2 text-sm">
            <LiveDot state={state} /> New holds and bookings appear here instantly.
          </span>
        }
        actions={
          <>
            <Link href="/tutor/availability" className={buttonClass("secondary")}>
              Edit hours
            </Link>
            <Link href={`/tutors/${encodeURIComponent(user.id)}`} className={buttonClass("primary")}>
              My public page
            </Link>
          </>
        }
      />

      {profileMissing && (
        <div className="mb-6">
          <Alert kind="warning" title="Students can't find you yet" testId="profile-missing">
            Publish your profile so you appear in search.{" "}
            <Link href="/tutor/profile" className="font-semibold underline">
              Set up profile →
            </Link>
          </Alert>
        </div>
      )}
      {error && (
        <div className="mb-6">
          <Alert title="Couldn't load your sessions">{error}</Alert>
        </div>
      )}

      {!profileMissing && <AvailableNowToggle />}

      <div className="mb-6 grid gap-4 sm:grid-cols-3">
        <Stat label="Upcoming sessions" value={upcoming === null ? null : String(upcomingNow.length)} testId="stat-upcoming" />
        <Stat label="On hold right now" value={holds === null ? null : String(holdsNow.length)} testId="stat-holds" />
        <Stat label="Booked next 7 days" value={upcoming === null ? null : fmtMoney(earnings, currency)} testId="stat-earnings" />
      </div>

      {next && Date.parse(next.start) - t < 60 * 60_000 && (
        <div className="mb-6 flex flex-wrap items-center gap-3 rounded-2xl bg-gradient-to-r from-indigo-600 to-violet-600 p-4 text-white shadow">
          <span className="font-semibold">
            Next session {relativeFromNow(next.start, t)} · {fmtTime(next.start)}
          </span>
          {next.join_url && (
            <a href={next.join_url} target="_blank" rel="noreferrer" className="ml-auto rounded-full bg-white px-4 py-1.5 text-sm font-semibold text-indigo-700">
              Open join link
            </a>
          )}
        </div>
      )}

      <div className="grid gap-6 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
        <div className="space-y-6">
          <Card>
            <h2 className="text-base font-semibold text-slate-900">Upcoming sessions</h2>
            <div className="mt-4">
              {upcoming === null ? (
                <ListSkeleton />
              ) : upcomingNow.length === 0 ? (
                <EmptyState icon="inbox" title="No sessions booked yet">
                  When a student pays for a lesson it lands here — no refresh needed.
                </EmptyState>
              ) : (
                <ul className="space-y-2" data-testid="upcoming-list">
                  {upcomingNow.map((b) => (
                    <DashboardRow key={b.id} booking={b} fresh={fresh.has(b.id)} now={t} />
                  ))}
                </ul>
              )}
            </div>
          </Card>

          <Card>
            <h2 className="text-base font-semibold text-slate-900">Slots on hold</h2>
            <p className="text-sm text-slate-600">A student is checking out. Holds lapse on their own if unpaid.</p>
            <div className="mt-4">
              {holds === null ? (
                <ListSkeleton />
              ) : holdsNow.length === 0 ? (
                <p className="rounded-xl bg-slate-50 px-4 py-6 text-center text-sm text-slate-500">Nothing on hold right now.</p>
              ) : (
                <ul className="space-y-2" data-testid="holds-list">
                  {holdsNow.map((b) => (
                    <DashboardRow key={b.id} booking={b} fresh={fresh.has(b.id)} now={t} />
                  ))}
                </ul>
              )}
            </div>
          </Card>
        </div>

        <Card className="self-start">
          <h2 className="text-base font-semibold text-slate-900">Live activity</h2>
          <p className="text-sm text-slate-600">Since you opened this page.</p>
          {activity.length === 0 ? (
            <p className="mt-4 rounded-xl bg-slate-50 px-4 py-6 text-center text-sm text-slate-500" data-testid="activity-empty">
              Quiet for now. New holds and bookings pop up here.
            </p>
          ) : (
            <ol className="mt-4 space-y-3" data-testid="activity-list" aria-live="polite">
              {activity.map((a) => (
                <li key={a.id} data-testid="activity-item" className="flex gap-3 rounded-xl p-2 flash-new">
                  <span
                    aria-hidden="true"
                    className={cx(
                      "mt-1 h-2.5 w-2.5 shrink-0 rounded-full",
                      a.booking.status === "confirmed" ? "bg-emerald-500" : a.booking.status === "held" ? "bg-amber-400" : "bg-slate-400",
                    )}
                  />
                  <div className="min-w-0 text-sm">
                    <p className="font-medium text-slate-900">{activityTitle(a)}</p>
                    <p className="text-slate-600">
                      {a.booking.student_name ?? "A student"} · {fmtRange(a.booking.start, a.booking.end)}
                    </p>
                    <p className="text-xs text-slate-400">{relativeFromNow(new Date(a.at).toISOString(), t)}</p>
                  </div>
                </li>
              ))}
            </ol>
          )}
        </Card>
      </div>
    </div>
  );
}

function activityTitle(a: Activity): string {
  const s = a.booking.status;
  if (a.kind === "new") return s === "held" ? "New hold" : "New booking";
  return (
    {
      held: "Hold placed",
      confirmed: "Booking confirmed",
      cancelled: "Booking cancelled",
      expired: "Hold expired",
      released: "Hold released",
      completed: "Lesson completed",
    }[s] ?? "Booking updated"
  );
}

function DashboardRow({ booking: b, fresh, now }: { booking: Booking; fresh: boolean; now: number }) {
  return (
    <li
      data-testid="booking-row"
      data-booking-id={b.id}
      data-status={b.status}
      className={cx("flex items-center gap-4 rounded-xl p-2 ring-1 ring-slate-100", fresh && "flash-new")}
    >
      <DateBlock iso={b.start} />
      <div className="min-w-0 flex-1">
        <div className="flex flex-wrap items-center gap-2">
          <p className="truncate font-semibold text-slate-900">{b.student_name ?? "Student"}</p>
          <StatusBadge status={b.status} />
          {fresh && <span className="text-xs font-semibold text-indigo-600">New</span>}
        </div>
        <p className="text-sm text-slate-600">
          {fmtRange(b.start, b.end)} · {b.minutes ?? minutesBetween(b.start, b.end)} min · {fmtMoney(b.price_cents, b.currency)}
        </p>
        {b.status === "held" && b.expires_at && (
          <p className="text-xs text-amber-700">
            Hold lapses in <span className="tabular-nums">{fmtCountdown(Date.parse(b.expires_at) - now)}</span>
          </p>
        )}
      </div>
      {b.status === "confirmed" && b.join_url && Date.parse(b.start) - now < 15 * 60_000 && (
        <a href={b.join_url} target="_blank" rel="noreferrer" className={buttonClass("success", "sm")}>
          Join
        </a>
      )}
      <Link href={messageHref(b.student_id, b.student_name)} className={buttonClass("ghost", "sm")} data-testid="message-student">
        Message
      </Link>
      <Link href={`/bookings/${encodeURIComponent(b.id)}`} className={buttonClass("ghost", "sm")} data-testid="booking-details">
        Details
      </Link>
    </li>
  );
}

function Stat({ label, value, testId }: { label: string; value: string | null; testId: string }) {
  return (
    <div className="rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200/80">
      <p className="text-sm text-slate-500">{label}</p>
      {value === null ? <Skeleton className="mt-2 h-8 w-16" /> : <p className="mt-1 text-3xl font-bold tracking-tight text-slate-900" data-testid={testId}>{value}</p>}
    </div>
  );
}

function ListSkeleton() {
  return (
    <div className="space-y-2" aria-hidden="true">
      {Array.from({ length: 3 }, (_, i) => (
        <Skeleton key={i} className="h-16 w-full rounded-xl" />
      ))}
    </div>
  );
}
