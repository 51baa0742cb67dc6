"use client";

import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, errorMessage } from "@/lib/api";
import { fmtDateTime, fmtMoney } from "@/lib/time";
import type {
  AdminOverview,
  AdminUser,
  AuditEntry,
  Booking,
  BookingStatus,
  DeadLetter,
  PaymentStatus,
} from "@/lib/types";
import { RequireAuth } from "./require-auth";
import { useToast } from "./toast";
import { Alert, Badge, Button, Card, EmptyState, Modal, PageHeader, Select, Skeleton, TextArea, TextInput } from "./ui";

/** The admin console: a live overview, people, bookings, failed jobs and the audit log. */
export function AdminConsole() {
  return <RequireAuth role="admin">{() => <Console />}</RequireAuth>;
}

const BOOKING_STATUSES: BookingStatus[] = ["held", "confirmed", "completed", "cancelled", "released", "expired"];
const PAYMENT_STATUSES: PaymentStatus[] = ["requires_payment", "paid", "free", "failed", "cancelled", "refund_pending", "refunded", "refund_failed"];
const ACTION_TEXT: Record<string, string> = {
  user_suspended: "Suspended a user",
  user_reinstated: "Reinstated a user",
  booking_refunded: "Refunded a booking",
  booking_cancelled: "Cancelled a booking",
  dead_letter_retried: "Retried a failed job",
};

/** One admin action waiting for its reason (and, for a refund, an optional amount). */
interface Pending {
  title: string;
  verb: string;
  amount?: { currency: string; max: number };
  run: (reason: string, amountCents: number | null) => Promise<unknown>;
}

function Console() {
  const [pending, setPending] = useState<Pending | null>(null);
  const [version, setVersion] = useState(0);
  const refresh = useCallback(() => setVersion((v) => v + 1), []);
  return (
    <div className="space-y-6">
      <PageHeader title="Admin console" subtitle="Every action asks for a reason and is recorded in the audit log." />
      <Overview version={version} />
      <Users version={version} ask={setPending} />
      <Bookings version={version} ask={setPending} />
      <DeadLetters version={version} onRetried={refresh} />
      <Audit version={version} />
      <ReasonDialog pending={pending} onClose={() => setPending(null)} onDone={refresh} />
    </div>
  );
}

function ReasonDialog({ pending, onClose, onDone }: { pending: Pending | null; onClose: () => void; onDone: () => void }) {
  const toast = useToast();
  const [reason, setReason] = useState("");
  const [amount, setAmount] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    setReason("");
    setAmount("");
    setError(null);
  }, [pending]);
  if (!pending) return null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!reason.trim()) {
      setError("Say why: the reason is kept in the audit log.");
      return;
    }
    let cents: number | null = null;
    if (pending.amount && amount.trim()) {
      const value = Math.round(Number(amount) * 100);
      if (!Number.isFinite(value) || value < 1 || value > pending.amount.max) {
        setError(`Enter an amount between 0.01 and ${(pending.amount.max / 100).toFixed(2)}, or leave it empty for a full refund.`);
        return;
      }
      cents = value;
    }
    setBusy(true);
    try {
      await pending.run(reason.trim(), cents);
      toast.push({ kind: "success", title: `${pending.verb}: done`, body: reason.trim() });
      onDone();
      onClose();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal open onClose={onClose} title={pending.title} testId="admin-reason-dialog">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <TextArea label="Reason" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} rows={3} required />
        {pending.amount && (
          <TextInput
            label={`Amount in ${pending.amount.currency} (empty: full refund)`}
            inputMode="decimal"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            data-testid="refund-amount"
          />
        )}
        {error && <Alert>{error}</Alert>}
        <div className="flex justify-end gap-2">
          <Button variant="ghost" onClick={onClose}>
            Back
          </Button>
          <Button type="submit" variant="danger" loading={busy} data-testid="admin-confirm">
            {pending.verb}
          </Button>
        </div>
      </form>
    </Modal>
  );
}

function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    load(ctl.signal)
      .then((d) => {
        setData(d);
        setError(null);
      })
      .catch((err: unknown) => {
        if ((err as Error).name !== "AbortError") setError(errorMessage(err));
      });
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error };
}

function Overview({ version }: { version: number }) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setTick((t) => t + 1), 10_000);
    return () => clearInterval(id);
  }, []);
  const { data, error } = useLoad<AdminOverview>((s) => api.admin.overview(s), [version, tick]);
  const perMinute = data?.holds_per_minute ?? [];
  const peak = Math.max(1, ...perMinute.map((m) => m.count));
  return (
    <Card className="p-5" data-testid="admin-overview">
      <h2 className="text-base font-semibold text-slate-900">Right now</h2>
      {error && <Alert>{error}</Alert>}
      {!data && !error && <Skeleton className="mt-3 h-24 w-full" />}
      {data && (
        <div className="mt-3 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
          <Stat label="Active holds" value={data.active_holds} testId="stat-active-holds" />
          <Stat label="Watchers connected (this server)" value={data.live_connections} />
          <Stat label="Conflicts answered (this server)" value={data.holds_conflicted_total} />
          <Stat label="Refunds that failed" value={data.refunds_failed} warn={data.refunds_failed > 0} />
          <Stat label="Failed jobs waiting" value={data.dead_letters_waiting} warn={data.dead_letters_waiting > 0} />
          <Stat label="Suspended accounts" value={data.suspended_users} />
          <div className="sm:col-span-2 lg:col-span-3">
            <p className="text-sm font-medium text-slate-700">Holds per minute, last 15 minutes</p>
            <div className="mt-2 flex h-16 items-end gap-1" role="img" aria-label={`Holds per minute: ${perMinute.map((m) => m.count).join(", ")}`}>
              {perMinute.map((m) => (
                <div key={m.minute} title={`${fmtDateTime(m.minute)}: ${m.count}`} className="flex-1 rounded-t bg-indigo-500" style={{ height: `${Math.max(4, (m.count / peak) * 100)}%` }} />
              ))}
            </div>
          </div>
        </div>
      )}
    </Card>
  );
}

function Stat({ label, value, warn = false, testId }: { label: string; value: number; warn?: boolean; testId?: string }) {
  return (
    <div className="rounded-xl bg-slate-50 px-4 py-3">
      <p className="text-xs font-medium text-slate-600">{label}</p>
      <p data-testid={testId} className={warn ? "text-2xl font-bold text-rose-700" : "text-2xl font-bold text-slate-900"}>
        {value.toLocaleString()}
      </p>
    </div>
  );
}

function Users({ version, ask }: { version: number; ask: (p: Pending) => void }) {
  const [query, setQuery] = useState("");
  const [submitted, setSubmitted] = useState("");
  const { data, error } = useLoad((s) => api.admin.users({ q: submitted || undefined, limit: 20 }, s), [submitted, version]);
  const act = (user: AdminUser) => {
    const suspended = Boolean(user.suspended_at);
    ask({
      title: `${suspended ? "Reinstate" : "Suspend"} ${user.name} (${user.email})`,
      verb: suspended ? "Reinstate" : "Suspend",
      run: (reason) => (suspended ? api.admin.reinstate(user.id, reason) : api.admin.suspend(user.id, reason)),
    });
  };
  return (
    <Card className="p-5" data-testid="admin-users">
      <h2 className="text-base font-semibold text-slate-900">People</h2>
      <form
        className="mt-3 flex items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          setSubmitted(query.trim());
        }}
      >
        <TextInput label="Search by name or e-mail" value={query} onChange={(e) => setQuery(e.target.value)} className="flex-1" data-testid="admin-user-search" />
        <Button type="submit" variant="secondary">
          Search
        </Button>
      </form>
      {error && <Alert>{error}</Alert>}
      {data && data.items.length === 0 && <p className="mt-3 text-sm text-slate-600">Nobody matches that search.</p>}
      {data && data.items.length > 0 && (
        <ul className="mt-3 divide-y divide-slate-100">
          {data.items.map((u) => (
            <li key={u.id} className="flex flex-wrap items-center justify-between gap-2 py-2" data-testid="admin-user-row" data-email={u.email}>
              <div>
                <p className="text-sm font-medium text-slate-900">
                  {u.name} <span className="font-normal text-slate-600">{u.email}</span>
                </p>
                <p className="text-xs text-slate-600">
                  {u.role} · joined {fmtDateTime(u.created_at)}
                  {u.suspended_at && ` · suspended ${fmtDateTime(u.suspended_at)}: ${u.suspended_reason ?? ""}`}
                </p>
              </div>
              <div className="flex items-center gap-2">
                {u.suspended_at && <Badge color="rose">suspended</Badge>}
                {u.role !== "admin" && (
                  <Button size="sm" variant={u.suspended_at ? "secondary" : "danger"} onClick={() => act(u)}>
                    {u.suspended_at ? "Reinstate" : "Suspend"}
                  </Button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function Bookings({ version, ask }: { version: number; ask: (p: Pending) => void }) {
  const [status, setStatus] = useState<BookingStatus | "">("");
  const [payment, setPayment] = useState<PaymentStatus | "">("");
  const { data, error } = useLoad(
    (s) => api.admin.bookings({ status: status || undefined, payment_status: payment || undefined, limit: 20 }, s),
    [status, payment, version],
  );
  const refund = (b: Booking) =>
    ask({
      title: `Refund ${fmtMoney(b.price_cents, b.currency)} lesson of ${fmtDateTime(b.start)}`,
      verb: "Refund",
      amount: { currency: b.currency, max: b.price_cents - (b.refund_cents ?? 0) },
      run: (reason, cents) => api.admin.refund(b.id, { reason, amount_cents: cents }),
    });
  const cancel = (b: Booking) =>
    ask({
      title: `Cancel the lesson of ${fmtDateTime(b.start)} (refunds in full)`,
      verb: "Cancel lesson",
      run: (reason) => api.admin.cancel(b.id, reason),
    });
  return (
    <Card className="p-5" data-testid="admin-bookings">
      <h2 className="text-base font-semibold text-slate-900">Bookings</h2>
      <div className="mt-3 grid gap-3 sm:grid-cols-2">
        <Select label="Status" value={status} onChange={(e) => setStatus(e.target.value as BookingStatus | "")} data-testid="admin-booking-status">
          <option value="">Any status</option>
          {BOOKING_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </Select>
        <Select label="Payment" value={payment} onChange={(e) => setPayment(e.target.value as PaymentStatus | "")} data-testid="admin-booking-payment">
          <option value="">Any payment state</option>
          {PAYMENT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s.replaceAll("_", " ")}
            </option>
          ))}
        </Select>
      </div>
      {error && <Alert>{error}</Alert>}
      {data && data.items.length === 0 && <p className="mt-3 text-sm text-slate-600">No booking matches these filters.</p>}
      {data && data.items.length > 0 && (
        <ul className="mt-3 divide-y divide-slate-100">
          {data.items.map((b) => (
            <li key={b.id} className="flex flex-wrap items-center justify-between gap-2 py-2" data-testid="admin-booking-row">
              <div>
                <p className="text-sm font-medium text-slate-900">
                  <a className="underline decoration-slate-300 hover:decoration-slate-600" href={`/bookings/${b.id}`}>
                    {fmtDateTime(b.start)}
                  </a>{" "}
                  · {b.student_name ?? "student"} with {b.tutor_name ?? "tutor"}
                </p>
                <p className="text-xs text-slate-600">
                  {fmtMoney(b.price_cents, b.currency)} · {b.status}
                  {b.payment_status && ` · ${b.payment_status.replaceAll("_", " ")}`}
                  {b.refund_cents ? ` · refunded ${fmtMoney(b.refund_cents, b.currency)}` : ""}
                </p>
              </div>
              <div className="flex gap-2">
                {b.payment_status === "paid" && (
                  <Button size="sm" variant="secondary" onClick={() => refund(b)}>
                    Refund
                  </Button>
                )}
                {b.status === "confirmed" && (
                  <Button size="sm" variant="danger" onClick={() => cancel(b)}>
                    Cancel
                  </Button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function DeadLetters({ version, onRetried }: { version: number; onRetried: () => void }) {
  const toast = useToast();
  const { data, error } = useLoad((s) => api.admin.deadLetters({ retried: false }, s), [version]);
  const [busy, setBusy] = useState<number | null>(null);
  const retry = async (letter: DeadLetter) => {
    setBusy(letter.id);
    try {
      await api.admin.retry(letter.id);
      toast.push({ kind: "success", title: "Job queued again", body: letter.task_name });
      onRetried();
    } catch (err) {
      toast.push({ kind: "error", title: "Could not retry", body: errorMessage(err) });
    } finally {
      setBusy(null);
    }
  };
  return (
    <Card className="p-5" data-testid="admin-dead-letters">
      <h2 className="text-base font-semibold text-slate-900">Failed jobs</h2>
      {error && <Alert>{error}</Alert>}
      {data && data.items.length === 0 && (
        <EmptyState icon="sparkles" title="No failed jobs">
          Jobs that fail every retry land here to be inspected and run again.
        </EmptyState>
      )}
      {data && data.items.length > 0 && (
        <ul className="mt-3 divide-y divide-slate-100">
          {data.items.map((d) => (
            <li key={d.id} className="py-2" data-testid="admin-dead-letter-row">
              <div className="flex flex-wrap items-center justify-between gap-2">
                <p className="text-sm font-medium text-slate-900">
                  {d.task_name} <span className="font-normal text-slate-600">· {d.attempts} attempts · {fmtDateTime(d.created_at)}</span>
                </p>
                <Button size="sm" variant="secondary" loading={busy === d.id} onClick={() => void retry(d)}>
                  Retry
                </Button>
              </div>
              <details className="mt-1 text-xs text-slate-700">
                <summary className="cursor-pointer">Error and arguments</summary>
                <pre className="mt-1 overflow-x-auto whitespace-pre-wrap rounded bg-slate-50 p-2">{d.last_error}</pre>
                <pre className="mt-1 overflow-x-auto rounded bg-slate-50 p-2">{JSON.stringify(d.args, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function Audit({ version }: { version: number }) {
  const { data, error } = useLoad((s) => api.admin.audit({ limit: 20 }, s), [version]);
  return (
    <Card className="p-5" data-testid="admin-audit">
      <h2 className="text-base font-semibold text-slate-900">Audit log</h2>
      {error && <Alert>{error}</Alert>}
      {data && data.items.length === 0 && <p className="mt-3 text-sm text-slate-600">No admin action yet.</p>}
      {data && data.items.length > 0 && (
        <ul className="mt-3 divide-y divide-slate-100">
          {data.items.map((a: AuditEntry) => (
            <li key={a.id} className="py-2 text-sm" data-testid="admin-audit-row" data-action={a.action}>
              <p className="text-slate-900">
                <span className="font-medium">{ACTION_TEXT[a.action] ?? a.action}</span> · {a.target_type} {a.target_id}
              </p>
              <p className="text-xs text-slate-600">
                by {a.admin_name} ({a.admin_email}) · {fmtDateTime(a.created_at)}
                {a.reason ? ` · “${a.reason}”` : ""}
              </p>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
