"use client";

import dynamic from "next/dynamic";
import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { useNow } from "@/lib/hooks";
import { fmtCountdown, fmtDate, fmtMoney, fmtTime, spokenDuration } from "@/lib/time";
import type { Booking, Checkout, Credit, Series } from "@/lib/types";
import { Icon } from "./icons";
import { useLiveEvent } from "./live";
import { RepeatWeekly, SeriesLessons, seriesPrice } from "./series";
import { usePublicConfig } from "./session";
import { useToast } from "./toast";
import { Alert, Button, buttonClass, cx, Skeleton } from "./ui";

const StripeCheckout = dynamic(() => import("./stripe-checkout"), {
  ssr: false,
  loading: () => <Skeleton className="h-40 w-full" />,
});

type Phase = "held" | "checkout" | "confirming" | "confirmed" | "ended";

function unwrapBooking(x: unknown): Booking | null {
  if (!x || typeof x !== "object") return null;
  if ("booking" in x && x.booking && typeof x.booking === "object") return x.booking as Booking;
  if ("id" in x && "status" in x) return x as Booking;
  return null;
}

/**
 * The student's current hold: a countdown to `expires_at`, Release, and Pay
 * (test provider button or Stripe Elements, whichever the API asks for).
 */
export function HoldPanel({
  hold,
  tutorName,
  onUpdate,
  onReplace,
  onClose,
}: {
  hold: Booking;
  tutorName: string;
  onUpdate: (b: Booking) => void;
  /** The hold became the first lesson of a weekly series (a new booking). */
  onReplace?: (b: Booking) => void;
  onClose: () => void;
}) {
  const now = useNow(250);
  const toast = useToast();
  const config = usePublicConfig();
  const [checkout, setCheckout] = useState<Checkout | null>(null);
  const [phase, setPhase] = useState<Phase>(hold.status === "confirmed" ? "confirmed" : hold.status === "held" ? "held" : "ended");
  const [busy, setBusy] = useState<"release" | "pay" | "test" | "credit" | null>(null);
  const [credit, setCredit] = useState<Credit | null>(null);
  const [confirmRelease, setConfirmRelease] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [series, setSeries] = useState<Series | null>(null);

  const expiresAt = hold.expires_at ? Date.parse(hold.expires_at) : null;
  const remaining = expiresAt !== null && now ? expiresAt - now : null;
  const lapsed = phase !== "confirmed" && phase !== "confirming" && remaining !== null && remaining <= 0;
  // Lapsed by the clock, or the server said so (its expired booking may carry no expires_at).
  const expired = lapsed || (phase === "ended" && hold.status === "expired");

  const applyBooking = useCallback(
    (b: Booking) => {
      onUpdate(b);
      if (b.status === "confirmed" || b.status === "completed") setPhase("confirmed");
      else if (b.status !== "held") setPhase("ended");
    },
    [onUpdate],
  );

  useLiveEvent("booking.updated", ({ booking }) => {
    if (booking.id === hold.id) applyBooking(booking);
  });

  // A weekly series: its lessons, flags and total (one checkout pays them all).
  const [seriesSeen, setSeriesSeen] = useState(0);
  useLiveEvent("booking.updated", ({ booking }) => {
    if (hold.series_id && booking.series_id === hold.series_id) setSeriesSeen((n) => n + 1);
  });
  useEffect(() => {
    if (!hold.series_id) return;
    const ctl = new AbortController();
    api.series
      .get(hold.series_id, ctl.signal)
      .then(setSeries)
      .catch(() => undefined);
    return () => ctl.abort();
  }, [hold.series_id, seriesSeen]);
  const lessons = series ? series.occurrences.filter((o) => o.status === "held").length || series.occurrences.length : 1;

  // A package credit with this tutor for this length pays for the lesson at once.
  const [creditsSeen, setCreditsSeen] = useState(0);
  useLiveEvent("credits.updated", () => setCreditsSeen((n) => n + 1));
  useEffect(() => {
    if (hold.status !== "held" || hold.trial) return;
    const ctl = new AbortController();
    api.packages
      .credits(hold.tutor_id, ctl.signal)
      .then((list) => setCredit(list.items.find((c) => c.minutes === hold.minutes && c.remaining >= lessons) ?? null))
      .catch(() => setCredit(null));
    return () => ctl.abort();
  }, [hold.id, hold.status, hold.trial, hold.tutor_id, hold.minutes, creditsSeen, lessons]);

  // After paying, the confirmation normally arrives live; poll as a fallback.
  useEffect(() => {
    if (phase !== "confirming") return;
    let tries = 0;
    const t = setInterval(async () => {
      tries += 1;
      try {
        const b = await api.bookings.get(hold.id);
        if (b.status !== "held") applyBooking(b);
      } catch {
        // Keep waiting: the live event may still arrive.
      }
      if (tries >= 20) clearInterval(t);
    }, 1500);
    return () => clearInterval(t);
  }, [phase, hold.id, applyBooking]);

  async function release() {
    setConfirmRelease(false);
    setBusy("release");
    setError(null);
    try {
      await api.holds.release(hold.id);
      toast.push({ kind: "info", title: "Hold released", body: "The slot is open for others again." });
      onUpdate({ ...hold, status: "released" });
      onClose();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) onClose();
      else setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  async function pay() {
    setBusy("pay");
    setError(null);
    try {
      const c = await api.bookings.checkout(hold.id);
      setCheckout(c);
      if (c.booking?.status === "confirmed") applyBooking(c.booking);
      else if (c.payment.provider === "free") setPhase("confirming");
      else setPhase("checkout");
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  async function payWithCredit() {
    setBusy("credit");
    setError(null);
    try {
      const c = await api.bookings.payWithCredit(hold.id);
      applyBooking(c.booking);
      toast.push({
        kind: "success",
        title: lessons > 1 ? `Paid with ${lessons} credits` : "Paid with a credit",
        body: `${(credit?.remaining ?? lessons) - lessons} credit(s) left with ${tutorName}.`,
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === "no_credit") setCredit(null);
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  async function testPay() {
    setBusy("test");
    setError(null);
    try {
      const r = await api.payments.testConfirm(hold.id);
      const b = unwrapBooking(r);
      if (b && b.status !== "held") applyBooking(b);
      else setPhase("confirming");
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  const price = hold.series_id ? seriesPrice(series, hold) : fmtMoney(hold.price_cents, hold.currency);
  const stripeKey = checkout?.payment.publishable_key || config?.stripe_publishable_key || null;

  return (
    <section
      data-testid="hold-panel"
      data-booking-id={hold.id}
      data-phase={expired ? "expired" : phase}
      aria-labelledby="hold-panel-title"
      className="rounded-2xl bg-white p-5 shadow-lg ring-1 ring-indigo-200"
    >
      {phase === "confirmed" ? (
        <div className="text-center" data-testid="booking-confirmed">
          <div className="mx-auto flex h-12 w-12 items-center justify-center rounded-full bg-emerald-100 text-emerald-600">
            <Icon name="check" className="h-7 w-7" />
          </div>
          <h2 id="hold-panel-title" className="mt-3 text-lg font-semibold text-slate-900">
            {series ? `Your ${series.occurrences.length} weekly lessons are booked!` : "You’re booked!"}
          </h2>
          <p className="mt-1 text-sm text-slate-600">
            {tutorName} · {series ? "from " : ""}
            {fmtDate(hold.start)} at {fmtTime(hold.start)}
          </p>
          {series && (
            <div className="mt-3 text-left">
              <SeriesLessons series={series} asStudent compact />
            </div>
          )}
          <div className="mt-4 flex flex-col gap-2">
            <Link href="/bookings" className={buttonClass("primary", "md")}>
              See my bookings
            </Link>
            <Button variant="ghost" onClick={onClose}>
              Book another time
            </Button>
          </div>
        </div>
      ) : phase === "ended" || lapsed ? (
        <div className="text-center" data-testid="hold-ended">
          <h2 id="hold-panel-title" className="text-lg font-semibold text-slate-900">
            {expired ? "Your hold expired" : "This hold has ended"}
          </h2>
          <p className="mt-1 text-sm text-slate-600">Pick another time — or the same one, if it is still open.</p>
          <Button variant="secondary" className="mt-4 w-full" onClick={onClose}>
            Choose a time
          </Button>
        </div>
      ) : (
        <>
          <div className="flex items-start justify-between gap-3">
            <div>
              <p className="text-xs font-semibold uppercase tracking-wide text-indigo-600">
                {hold.series_id ? `${series?.occurrences.length ?? ""} weekly lessons on hold` : "Slot on hold"}
              </p>
              <h2 id="hold-panel-title" className="mt-1 text-lg font-semibold text-slate-900">
                {fmtDate(hold.start)}
              </h2>
              <p className="text-sm text-slate-600">
                {fmtTime(hold.start)} – {fmtTime(hold.end)} with {tutorName}
              </p>
            </div>
            <p className="text-lg font-bold text-slate-900">{price}</p>
          </div>

          <div
            className={cx(
              "mt-4 flex items-center justify-between rounded-xl px-4 py-3",
              remaining !== null && remaining < 60_000 ? "bg-rose-50 text-rose-800" : "bg-indigo-50 text-indigo-900",
            )}
          >
            <span className="text-sm font-medium">We&apos;re keeping it for you for</span>
            <span
              data-testid="hold-countdown"
              data-expires-at={hold.expires_at ?? undefined}
              role="timer"
              aria-label={remaining !== null ? `${spokenDuration(remaining)} left` : "time left"}
              className="font-mono text-2xl font-bold tabular-nums"
            >
              {remaining !== null ? fmtCountdown(remaining) : "–:––"}
            </span>
          </div>

          {series && (
            <div className="mt-3">
              <SeriesLessons series={series} asStudent compact />
            </div>
          )}
          {!hold.series_id && !hold.trial && phase === "held" && onReplace && (
            <RepeatWeekly hold={hold} onSeries={(first) => onReplace(first)} />
          )}

          {error && (
            <div className="mt-3">
              <Alert testId="hold-error">{error}</Alert>
            </div>
          )}

          {phase === "checkout" && checkout ? (
            <div className="mt-4 space-y-3">
              {checkout.payment.provider === "stripe" ? (
                stripeKey && checkout.payment.client_secret ? (
                  <StripeCheckout
                    publishableKey={stripeKey}
                    clientSecret={checkout.payment.client_secret}
                    amountLabel={price}
                    onPaid={() => setPhase("confirming")}
                  />
                ) : config === null ? (
                  <Skeleton className="h-40 w-full" />
                ) : (
                  <Alert>Card payments are not configured on this server.</Alert>
                )
              ) : (
                <div className="rounded-xl border-2 border-dashed border-amber-300 bg-amber-50 p-4">
                  <p className="text-sm font-semibold text-amber-900">Test payment</p>
                  <p className="mt-0.5 text-xs text-amber-800">
                    This server uses the test payment provider: no card is charged.
                  </p>
                  <Button
                    variant="success"
                    className="mt-3 w-full"
                    onClick={testPay}
                    loading={busy === "test"}
                    data-testid="test-pay"
                  >
                    Test payment · {price}
                  </Button>
                </div>
              )}
              <Button variant="ghost" className="w-full" onClick={() => setConfirmRelease(true)} loading={busy === "release"} data-testid="release-hold">
                Release slot
              </Button>
            </div>
          ) : (
            <>
            {credit && phase === "held" && (
              <div className="mt-4 rounded-xl bg-emerald-50 p-3 ring-1 ring-emerald-200" data-testid="credit-offer">
                <p className="text-sm text-emerald-900">
                  You have <strong>{credit.remaining}</strong> lesson credit{credit.remaining === 1 ? "" : "s"} with{" "}
                  {tutorName} for {credit.minutes}-minute lessons{lessons > 1 ? `: ${lessons} pay for these lessons` : ""}.
                </p>
                <Button
                  variant="success"
                  className="mt-2 w-full"
                  onClick={payWithCredit}
                  loading={busy === "credit"}
                  data-testid="pay-with-credit"
                >
                  {lessons > 1 ? `Use ${lessons} credits` : "Use 1 credit"}
                </Button>
              </div>
            )}
            <div className="mt-4 grid grid-cols-2 gap-2">
              <Button variant="secondary" onClick={() => setConfirmRelease(true)} loading={busy === "release"} disabled={phase === "confirming"} data-testid="release-hold">
                Release
              </Button>
              <Button onClick={pay} loading={busy === "pay" || phase === "confirming"} data-testid="pay">
                {phase === "confirming" ? "Confirming…" : `Pay ${price}`}
              </Button>
            </div>
            </>
          )}
          {confirmRelease && (
            <div role="alertdialog" aria-labelledby="release-confirm-title" data-testid="release-confirm"
              className="mt-3 rounded-xl bg-amber-50 p-3 text-sm text-amber-900 ring-1 ring-amber-200">
              <p id="release-confirm-title" className="font-semibold">{hold.series_id ? "Release all these weekly lessons?" : "Release this slot?"}</p>
              <p className="mt-0.5">Another student can take it straight away.</p>
              <div className="mt-3 grid grid-cols-2 gap-2">
                <Button variant="secondary" onClick={() => setConfirmRelease(false)} data-testid="keep-hold" autoFocus>
                  Keep it
                </Button>
                <Button variant="danger" onClick={release} loading={busy === "release"} data-testid="confirm-release">
                  Release
                </Button>
              </div>
            </div>
          )}
        </>
      )}
    </section>
  );
}
