"use client";

import { useEffect, useState } from "react";
import { api, ApiError, errorMessage, uuid } from "@/lib/api";
import { markLocalAction } from "@/lib/booking-memory";
import { fmtDateTime, fmtInZone, fmtMoney, userTimeZone } from "@/lib/time";
import type { Booking, Occurrence, Series } from "@/lib/types";
import { StatusBadge } from "./booking-bits";
import { Alert, Badge, Button, Card, cx, Skeleton } from "./ui";

const WEEK_CHOICES = [2, 4, 6, 8, 10, 12, 16, 20, 26];

/** "15:00 → 14:00": how a flagged lesson moves on the student's clock. */
function clockNote(o: Occurrence, first: Occurrence, zone: string): string {
  const time = (iso: string) =>
    new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone: zone });
  return `${time(o.start)} instead of ${time(first.start)} on your clock`;
}

/**
 * Every lesson of a weekly series on the viewer's clock, with the ones that move because one
 * of the two time zones changes its clocks on another date marked (for the student).
 */
export function SeriesLessons({ series, asStudent, compact = false }: { series: Series; asStudent: boolean; compact?: boolean }) {
  const first = series.occurrences[0];
  const zone = asStudent ? series.student_timezone : userTimeZone();
  const moves = asStudent ? series.occurrences.filter((o) => o.clock_change).length : 0;
  return (
    <div data-testid="series-lessons">
      {moves > 0 && (
        <div className="mb-2">
          <Alert kind="warning" title="Clock change" testId="series-clock-warning">
            {moves === 1 ? "One lesson is" : `${moves} lessons are`} at a different time on your clock: the tutor&apos;s
            time zone ({series.tutor_timezone}) and yours ({series.student_timezone}) change their clocks on different
            dates. The lesson stays at the same time for your tutor.
          </Alert>
        </div>
      )}
      <ol className={cx("divide-y divide-slate-100 rounded-xl ring-1 ring-slate-200", compact && "max-h-56 overflow-y-auto")}>
        {series.occurrences.map((o, i) => (
          <li
            key={o.booking_id}
            data-testid="series-occurrence"
            data-clock-change={asStudent && o.clock_change ? "true" : "false"}
            className={cx("flex items-center justify-between gap-2 px-3 py-2 text-sm", asStudent && o.clock_change && "bg-amber-50")}
          >
            <span>
              <span className="mr-2 text-xs text-slate-400">{i + 1}.</span>
              <span className="font-medium text-slate-800">{fmtInZone(o.start, zone)}</span>
              {asStudent && o.clock_change && first && (
                <span className={cx("text-xs font-semibold text-amber-800", compact ? "mt-0.5 block pl-5" : "ml-2")} data-testid="clock-change-note">
                  ⚠ {clockNote(o, first, zone)}
                </span>
              )}
            </span>
            {!compact && <StatusBadge status={o.status} />}
          </li>
        ))}
      </ol>
    </div>
  );
}

/**
 * In the hold panel: turn the held slot into weekly lessons ("repeat weekly for N weeks").
 * The hold becomes the first lesson in the same transaction, so the slot never opens.
 */
export function RepeatWeekly({ hold, onSeries }: { hold: Booking; onSeries: (first: Booking, series: Series) => void }) {
  const [weeks, setWeeks] = useState(4);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [conflicts, setConflicts] = useState<string[]>([]);

  async function repeat() {
    setBusy(true);
    setError(null);
    setConflicts([]);
    try {
      markLocalAction(hold.id); // the hold is released into the series: no "hold released" toast
      const series = await api.series.place(
        { tutor_id: hold.tutor_id, start: hold.start, minutes: hold.minutes, weeks, timezone: userTimeZone(), hold_id: hold.id },
        uuid(),
      );
      const first = await api.bookings.get(series.occurrences[0].booking_id);
      onSeries(first, series);
    } catch (err) {
      setError(errorMessage(err));
      if (err instanceof ApiError && err.code === "series_conflict") {
        const details = (err.details ?? {}) as { conflicts?: string[] };
        setConflicts(details.conflicts ?? []);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="mt-4 rounded-xl bg-slate-50 p-3 ring-1 ring-slate-200" data-testid="repeat-weekly">
      <label className="flex items-center justify-between gap-2 text-sm text-slate-700">
        <span>Repeat weekly for</span>
        <select
          value={weeks}
          onChange={(e) => setWeeks(Number(e.target.value))}
          className="rounded-lg border-slate-300 py-1 text-sm"
          data-testid="repeat-weeks"
          aria-label="Number of weekly lessons"
        >
          {WEEK_CHOICES.map((n) => (
            <option key={n} value={n}>
              {n} weeks
            </option>
          ))}
        </select>
      </label>
      <p className="mt-1 text-xs text-slate-500">Same time every week in the tutor&apos;s time zone; one payment for all of them.</p>
      {error && (
        <div className="mt-2">
          <Alert testId="repeat-error">
            {error}
            {conflicts.length > 0 && (
              <span className="mt-1 block">
                Not free: {conflicts.map((c) => fmtDateTime(c)).join(", ")}.
              </span>
            )}
          </Alert>
        </div>
      )}
      <Button variant="secondary" className="mt-2 w-full" onClick={repeat} loading={busy} data-testid="repeat-weekly-submit">
        Hold {weeks} weekly lessons
      </Button>
    </div>
  );
}

/** The series' total while it is held (what one checkout pays). */
export function seriesPrice(series: Series | null, hold: Booking): string {
  return series ? fmtMoney(series.price_cents, series.currency) : fmtMoney(hold.price_cents, hold.currency);
}

export function SeriesBadge() {
  return <Badge color="indigo">Weekly</Badge>;
}

/**
 * On a booking that belongs to a weekly series: all its lessons, and "cancel this and the
 * later lessons" (each by the cancellation policy, refund or credit back when due).
 */
export function SeriesCard({ booking, isStudent, onChanged }: { booking: Booking; isStudent: boolean; onChanged: () => void }) {
  const [series, setSeries] = useState<Series | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const seriesId = booking.series_id;

  useEffect(() => {
    if (!seriesId) return;
    const ctl = new AbortController();
    api.series
      .get(seriesId, ctl.signal)
      .then(setSeries)
      .catch((err: unknown) => {
        if (!ctl.signal.aborted) setError(errorMessage(err));
      });
    return () => ctl.abort();
  }, [seriesId, booking.status]);

  if (!seriesId) return null;
  const later = series?.occurrences.filter(
    (o) => Date.parse(o.start) >= Date.parse(booking.start) && (o.status === "confirmed" || (o.status === "held" && isStudent)),
  );

  async function cancelLater() {
    if (!seriesId) return;
    setBusy(true);
    setError(null);
    try {
      for (const o of later ?? []) markLocalAction(o.booking_id); // this page says so; no toast per lesson
      setSeries(await api.series.cancel(seriesId, { from: booking.start }));
      setConfirming(false);
      onChanged();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card className="mt-6" data-testid="series-card">
      <div className="flex items-start justify-between gap-3">
        <div>
          <h2 className="text-base font-semibold text-slate-900">Weekly lessons</h2>
          {series && (
            <p className="mt-0.5 text-sm text-slate-600">
              {series.occurrences.length} lessons, every week at the same time in the tutor&apos;s time zone ({series.tutor_timezone}).
            </p>
          )}
        </div>
        {later && later.length > 0 && Date.parse(booking.start) > Date.now() && (
          <Button variant="ghost" className="text-rose-700 hover:bg-rose-50" onClick={() => setConfirming(true)} data-testid="cancel-series">
            Cancel this and later lessons
          </Button>
        )}
      </div>
      {error && (
        <div className="mt-3">
          <Alert testId="series-error">{error}</Alert>
        </div>
      )}
      {confirming && later && (
        <div role="alertdialog" aria-labelledby="series-cancel-title" className="mt-3 rounded-xl bg-amber-50 p-3 text-sm text-amber-900 ring-1 ring-amber-200" data-testid="series-cancel-confirm">
          <p id="series-cancel-title" className="font-semibold">Cancel {later.length} lesson{later.length === 1 ? "" : "s"}?</p>
          <p className="mt-0.5">Each is cancelled by the cancellation policy: a refund (or your credit back) where it is due.</p>
          <div className="mt-3 grid grid-cols-2 gap-2">
            <Button variant="secondary" onClick={() => setConfirming(false)} autoFocus>
              Keep them
            </Button>
            <Button variant="danger" onClick={cancelLater} loading={busy} data-testid="confirm-cancel-series">
              Cancel lessons
            </Button>
          </div>
        </div>
      )}
      <div className="mt-3">{series ? <SeriesLessons series={series} asStudent={isStudent} /> : <Skeleton className="h-24 w-full" />}</div>
    </Card>
  );
}
