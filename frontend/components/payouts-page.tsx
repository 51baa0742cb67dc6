"use client";

import { useSearchParams } from "next/navigation";
import { useCallback, useEffect, useState } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { fmtDateTime, fmtMoney } from "@/lib/time";
import type { Earning, EarningStatus, EarningsPage, PayoutState, PayoutStatus, User } from "@/lib/types";
import { useLiveEvent } from "./live";
import { RequireAuth } from "./require-auth";
import { Alert, Badge, Button, Card, EmptyState, PageHeader, Skeleton } from "./ui";

/** The tutor's payouts: Stripe Connect onboarding, the account's state, balances and per-lesson earnings. */
export function PayoutsPage() {
  return <RequireAuth role="tutor">{(user) => <Payouts user={user} />}</RequireAuth>;
}

const STATE_TEXT: Record<PayoutState, { label: string; color: "slate" | "amber" | "green" | "rose"; body: string; action: string }> = {
  not_started: {
    label: "Not set up",
    color: "slate",
    body: "Set up payouts with Stripe to receive what students pay you. Until then you can still be booked: your earnings wait safely and are sent once you finish.",
    action: "Set up payouts",
  },
  pending: {
    label: "In progress",
    color: "amber",
    body: "Stripe needs a few more details, or is reviewing them. Finish onboarding to get paid; earnings so far are kept for you.",
    action: "Finish onboarding",
  },
  active: {
    label: "Active",
    color: "green",
    body: "You're all set: each lesson's share goes to your Stripe account, and Stripe pays it out to your bank on its schedule.",
    action: "Update payout details",
  },
  restricted: {
    label: "Action needed",
    color: "rose",
    body: "Stripe paused your account until it gets more information. Your earnings are kept; update your details to resume payouts.",
    action: "Update details with Stripe",
  },
};

const EARNING_BADGE: Record<EarningStatus, "amber" | "sky" | "green" | "slate"> = {
  pending: "amber",
  available: "sky",
  paid: "green",
  reversed: "slate",
};

function Payouts({ user }: { user: User }) {
  const params = useSearchParams();
  const [status, setStatus] = useState<PayoutStatus | null>(null);
  const [page, setPage] = useState<EarningsPage | null>(null);
  const [items, setItems] = useState<Earning[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [disabled, setDisabled] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const [s, e] = await Promise.all([api.payouts.status(signal), api.payouts.earnings({ limit: 50 }, signal)]);
      setStatus(s);
      setPage(e);
      setItems(e.items);
      setError(null);
    } catch (err) {
      if ((err as Error).name !== "AbortError") setError(errorMessage(err));
    }
  }, []);

  useEffect(() => {
    const ctl = new AbortController();
    void load(ctl.signal);
    return () => ctl.abort();
  }, [load]);

  useLiveEvent("payout.updated", (event) => {
    setStatus({ status: event.status, charges_enabled: event.charges_enabled, payouts_enabled: event.payouts_enabled, platform_fee_bps: event.platform_fee_bps });
    if (event.payout) void load();
  });

  async function startOnboarding() {
    setStarting(true);
    try {
      const { url } = await api.payouts.onboarding();
      window.location.assign(url);
    } catch (err) {
      if (err instanceof ApiError && err.code === "feature_disabled") setDisabled(true);
      else setError(errorMessage(err));
      setStarting(false);
    }
  }

  async function loadMore() {
    if (!page?.next_cursor) return;
    setLoadingMore(true);
    try {
      const next = await api.payouts.earnings({ cursor: page.next_cursor, limit: 50 });
      setPage(next);
      setItems((prev) => [...prev, ...next.items]);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setLoadingMore(false);
    }
  }

  const returned = params.get("onboarding");
  const state = status ? STATE_TEXT[status.status] : null;
  const feePercent = status ? status.platform_fee_bps / 100 : null;

  return (
    <div>
      <PageHeader title="Payouts" subtitle={`What your lessons earned, ${user.name.split(" ")[0]}, and when it reaches your bank.`} />

      {returned === "done" && status?.status !== "active" && (
        <div className="mb-6">
          <Alert kind="info" title="Thanks — you're back from Stripe" testId="onboarding-returned">
            Stripe is checking your details. This page updates by itself when your account is ready.
          </Alert>
        </div>
      )}
      {returned === "retry" && (
        <div className="mb-6">
          <Alert kind="warning" title="That onboarding link expired" testId="onboarding-retry">
            Links to Stripe work once and for a few minutes. Continue below for a fresh one.
          </Alert>
        </div>
      )}
      {error && (
        <div className="mb-6">
          <Alert title="Couldn't load your payouts">{error}</Alert>
        </div>
      )}
      {disabled && (
        <div className="mb-6">
          <Alert kind="info" title="Payouts aren't enabled here" testId="payouts-disabled">
            This EduStream server has no Stripe account configured, so tutors can&apos;t be paid through it yet.
          </Alert>
        </div>
      )}

      <Card className="mb-6" data-testid="payout-account">
        {status === null || state === null ? (
          <Skeleton className="h-20 w-full" />
        ) : (
          <div className="flex flex-col gap-4 sm:flex-row sm:items-center">
            <div className="flex-1">
              <div className="flex items-center gap-2">
                <h2 className="text-base font-semibold text-slate-900">Stripe payout account</h2>
                <Badge color={state.color}>
                  <span data-testid="payout-state" data-state={status.status}>
                    {state.label}
                  </span>
                </Badge>
              </div>
              <p className="mt-1 text-sm text-slate-600">{state.body}</p>
              <p className="mt-1 text-xs text-slate-500" data-testid="platform-fee">
                EduStream keeps {feePercent}% of each lesson&apos;s price (rounded down in your favour); the rest is yours.
              </p>
            </div>
            <Button onClick={startOnboarding} disabled={starting || disabled} data-testid="onboarding-button">
              {starting ? "Opening Stripe…" : state.action}
            </Button>
          </div>
        )}
      </Card>

      <section aria-labelledby="balances" className="mb-6">
        <h2 id="balances" className="sr-only">
          Balances
        </h2>
        {page === null ? (
          <div className="grid gap-4 sm:grid-cols-3">
            <Skeleton className="h-24" />
            <Skeleton className="h-24" />
            <Skeleton className="h-24" />
          </div>
        ) : (
          page.totals.map((t) => (
            <div key={t.currency} className="mb-4 grid gap-4 sm:grid-cols-3" data-testid={`totals-${t.currency}`}>
              <Balance label={`Available (${t.currency})`} value={fmtMoney(t.available_cents, t.currency)} hint="Goes out with Stripe's next payout" testId="balance-available" />
              <Balance label={`Pending (${t.currency})`} value={fmtMoney(t.pending_cents, t.currency)} hint="Lessons not yet past the refund window" testId="balance-pending" />
              <Balance label={`Paid out (${t.currency})`} value={fmtMoney(t.paid_cents, t.currency)} hint={`Earned ${fmtMoney(t.net_cents, t.currency)} after fees of ${fmtMoney(t.fee_cents, t.currency)}`} testId="balance-paid" />
            </div>
          ))
        )}
      </section>

      <Card>
        <h2 className="text-base font-semibold text-slate-900">Earnings per lesson</h2>
        <div className="mt-4">
          {page === null ? (
            <Skeleton className="h-32 w-full" />
          ) : items.length === 0 ? (
            <EmptyState icon="inbox" title="No paid lessons yet">
              Each paid lesson appears here with what the student paid, the platform fee and what you get.
            </EmptyState>
          ) : (
            <div className="overflow-x-auto">
              <table className="w-full text-left text-sm" data-testid="earnings-table">
                <thead className="text-xs uppercase text-slate-500">
                  <tr>
                    <th scope="col" className="py-2 pr-4 font-medium">Lesson</th>
                    <th scope="col" className="py-2 pr-4 text-right font-medium">Paid</th>
                    <th scope="col" className="py-2 pr-4 text-right font-medium">Fee</th>
                    <th scope="col" className="py-2 pr-4 text-right font-medium">You get</th>
                    <th scope="col" className="py-2 font-medium">Status</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-100">
                  {items.map((e) => (
                    <tr key={e.booking_id} data-testid="earning-row" data-status={e.status}>
                      <td className="py-2 pr-4 text-slate-700">{fmtDateTime(e.start)}</td>
                      <td className="py-2 pr-4 text-right tabular-nums">{fmtMoney(e.gross_cents, e.currency)}</td>
                      <td className="py-2 pr-4 text-right tabular-nums text-slate-500">−{fmtMoney(e.fee_cents, e.currency)}</td>
                      <td className="py-2 pr-4 text-right font-semibold tabular-nums">{fmtMoney(e.net_cents, e.currency)}</td>
                      <td className="py-2">
                        <Badge color={EARNING_BADGE[e.status]}>{e.status}</Badge>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {page.next_cursor && (
                <div className="mt-4 text-center">
                  <Button variant="secondary" onClick={loadMore} disabled={loadingMore}>
                    {loadingMore ? "Loading…" : "Show older lessons"}
                  </Button>
                </div>
              )}
            </div>
          )}
        </div>
      </Card>
    </div>
  );
}

function Balance({ label, value, hint, testId }: { label: string; value: string; hint: string; testId: string }) {
  return (
    <div className="rounded-2xl bg-white p-4 shadow-sm ring-1 ring-slate-200/80">
      <p className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</p>
      <p className="mt-1 text-2xl font-bold tabular-nums text-slate-900" data-testid={testId}>
        {value}
      </p>
      <p className="mt-1 text-xs text-slate-500">{hint}</p>
    </div>
  );
}
