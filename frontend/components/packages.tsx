"use client";

import dynamic from "next/dynamic";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, ApiError, errorMessage, uuid } from "@/lib/api";
import { fmtDate, fmtMoney } from "@/lib/time";
import type { Credit, LessonPackage, PackageInput, PurchaseCheckout, Tutor, User } from "@/lib/types";
import { useLiveEvent } from "./live";
import { RequireAuth } from "./require-auth";
import { usePublicConfig } from "./session";
import { useToast } from "./toast";
import { Alert, Button, buttonClass, Card, EmptyState, PageHeader, Select, Skeleton, TextInput } from "./ui";

const StripeCheckout = dynamic(() => import("./stripe-checkout"), {
  ssr: false,
  loading: () => <Skeleton className="h-40 w-full" />,
});

/** "5 × 60 min" */
export function packageLabel(p: { lessons: number; minutes: number }): string {
  return `${p.lessons} × ${p.minutes}-minute lessons`;
}

/**
 * A tutor's packages on their public page: buy one (test provider or Stripe Elements), and
 * the signed-in student's credits with this tutor. Credits arrive with the payment webhook
 * (live `credits.updated`; polled as a fallback).
 */
export function TutorPackages({ tutor, user }: { tutor: Tutor; user: User | null | undefined }) {
  const router = useRouter();
  const toast = useToast();
  const config = usePublicConfig();
  const [packages, setPackages] = useState<LessonPackage[] | null>(null);
  const [credits, setCredits] = useState<Credit[]>([]);
  const [buying, setBuying] = useState<{ pkg: LessonPackage; checkout: PurchaseCheckout } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [waiting, setWaiting] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const isStudent = user?.role === "student";

  useEffect(() => {
    const ac = new AbortController();
    api.packages
      .ofTutor(tutor.id, ac.signal)
      .then((list) => setPackages(list.items))
      .catch(() => !ac.signal.aborted && setPackages([]));
    return () => ac.abort();
  }, [tutor.id]);

  const loadCredits = useCallback(async () => {
    if (!isStudent) return;
    try {
      setCredits((await api.packages.credits(tutor.id)).items);
    } catch {
      // The list is a convenience; buying still works.
    }
  }, [isStudent, tutor.id]);

  useEffect(() => {
    void loadCredits();
  }, [loadCredits]);

  const granted = useCallback(
    (purchaseId: string) => {
      if (waiting !== purchaseId) return;
      setWaiting(null);
      setBuying(null);
      toast.push({ kind: "success", title: "Package bought", body: "Your lesson credits are ready: pick a time and use one." });
      void loadCredits();
    },
    [waiting, toast, loadCredits],
  );

  useLiveEvent("credits.updated", ({ purchase }) => {
    if (purchase.status === "paid") granted(purchase.id);
  });

  // The credits normally arrive live; poll the purchase as a fallback.
  useEffect(() => {
    if (!waiting) return;
    let tries = 0;
    const t = setInterval(async () => {
      tries += 1;
      try {
        const p = await api.packages.purchase(waiting);
        if (p.status === "paid") granted(p.id);
      } catch {
        // Keep waiting.
      }
      if (tries >= 40) clearInterval(t);
    }, 1500);
    return () => clearInterval(t);
  }, [waiting, granted]);

  async function buy(pkg: LessonPackage) {
    if (!user) {
      router.push(`/login?next=${encodeURIComponent(`/tutors/${tutor.id}`)}`);
      return;
    }
    setBusy(pkg.id);
    setError(null);
    try {
      setBuying({ pkg, checkout: await api.packages.checkout(pkg.id, uuid()) });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  async function testPay(purchaseId: string) {
    setBusy("test");
    setError(null);
    try {
      const p = await api.packages.testConfirm(purchaseId);
      setWaiting(p.id);
      if (p.status === "paid") {
        setWaiting(null);
        setBuying(null);
        toast.push({ kind: "success", title: "Package bought", body: "Your lesson credits are ready: pick a time and use one." });
        void loadCredits();
      }
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(null);
    }
  }

  if (packages === null || (packages.length === 0 && credits.length === 0)) return null;
  const stripeKey = buying?.checkout.payment.publishable_key || config?.stripe_publishable_key || null;
  return (
    <Card data-testid="tutor-packages">
      <h2 className="text-lg font-semibold text-slate-900">Lesson packages</h2>
      <p className="mt-1 text-sm text-slate-600">
        Buy several lessons at once; each credit pays for one lesson of its length with {tutor.name ?? "this tutor"}.
      </p>
      {credits.length > 0 && (
        <ul className="mt-3 space-y-1 rounded-xl bg-emerald-50 p-3 text-sm text-emerald-900" data-testid="tutor-credits">
          {credits.map((c) => (
            <li key={c.purchase_id} data-testid="tutor-credit">
              You have <strong>{c.remaining}</strong> credit{c.remaining === 1 ? "" : "s"} for {c.minutes}-minute lessons,
              until {fmtDate(c.expires_at)}.
            </li>
          ))}
        </ul>
      )}
      {error && (
        <div className="mt-3">
          <Alert testId="package-error">{error}</Alert>
        </div>
      )}
      <ul className="mt-4 grid gap-3 sm:grid-cols-2">
        {packages.map((p) => (
          <li key={p.id} className="rounded-xl p-4 ring-1 ring-slate-200" data-testid="package" data-package-id={p.id}>
            <p className="font-semibold text-slate-900">{packageLabel(p)}</p>
            <p className="mt-1 text-sm text-slate-600">
              {fmtMoney(p.price_cents, p.currency)} · {fmtMoney(Math.round(p.price_cents / p.lessons), p.currency)} per lesson
            </p>
            {user?.role !== "tutor" && user?.role !== "admin" && (
              <Button className="mt-3 w-full" variant="secondary" onClick={() => buy(p)} loading={busy === p.id}
                disabled={Boolean(buying)} data-testid="buy-package">
                Buy for {fmtMoney(p.price_cents, p.currency)}
              </Button>
            )}
            {buying?.pkg.id === p.id && (
              <div className="mt-3 space-y-2" data-testid="package-checkout">
                {buying.checkout.payment.provider === "stripe" ? (
                  stripeKey && buying.checkout.payment.client_secret ? (
                    <StripeCheckout
                      publishableKey={stripeKey}
                      clientSecret={buying.checkout.payment.client_secret}
                      amountLabel={fmtMoney(p.price_cents, p.currency)}
                      onPaid={() => setWaiting(buying.checkout.purchase_id)}
                    />
                  ) : (
                    <Alert>Card payments are not configured on this server.</Alert>
                  )
                ) : (
                  <div className="rounded-xl border-2 border-dashed border-amber-300 bg-amber-50 p-3">
                    <p className="text-sm font-semibold text-amber-900">Test payment</p>
                    <p className="mt-0.5 text-xs text-amber-800">This server uses the test payment provider: no card is charged.</p>
                    <Button variant="success" className="mt-2 w-full" onClick={() => testPay(buying.checkout.purchase_id)}
                      loading={busy === "test"} data-testid="package-test-pay">
                      Test payment · {fmtMoney(p.price_cents, p.currency)}
                    </Button>
                  </div>
                )}
                {waiting ? (
                  <p className="text-sm text-slate-600" role="status">Waiting for the payment to be confirmed…</p>
                ) : (
                  <Button variant="ghost" className="w-full" onClick={() => setBuying(null)}>
                    Cancel
                  </Button>
                )}
              </div>
            )}
          </li>
        ))}
      </ul>
    </Card>
  );
}

/** `/credits`: the student's unexpired lesson credits, with a link to book each tutor. */
export function MyCreditsPage() {
  return <RequireAuth role="student">{() => <MyCredits />}</RequireAuth>;
}

function MyCredits() {
  const [credits, setCredits] = useState<Credit[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    api.packages
      .credits(undefined, ac.signal)
      .then((list) => setCredits(list.items))
      .catch((err: unknown) => !ac.signal.aborted && setError(errorMessage(err)));
    return () => ac.abort();
  }, []);

  return (
    <div className="space-y-6">
      <PageHeader title="My credits" subtitle="Lesson credits from the packages you bought. Each pays for one lesson of its length." />
      {error && <Alert>{error}</Alert>}
      {credits === null && !error ? (
        <Skeleton className="h-32 w-full rounded-2xl" />
      ) : credits && credits.length === 0 ? (
        <EmptyState icon="compass" title="No credits yet"
          action={<Link href="/" className={buttonClass("primary")}>Find a tutor</Link>}>
          Tutors who sell lesson packages show them on their page.
        </EmptyState>
      ) : (
        <ul className="grid gap-3 sm:grid-cols-2">
          {(credits ?? []).map((c) => (
            <li key={c.purchase_id} data-testid="credit-row">
              <Card>
                <p className="font-semibold text-slate-900">{c.tutor_name}</p>
                <p className="mt-1 text-sm text-slate-700">
                  <strong data-testid="credit-remaining">{c.remaining}</strong> of {c.lessons} {c.minutes}-minute lessons left
                </p>
                <p className="mt-1 text-xs text-slate-500">Expires {fmtDate(c.expires_at)}</p>
                <Link href={`/tutors/${c.tutor_id}`} className={buttonClass("secondary", "sm", "mt-3")}>
                  Book a lesson
                </Link>
              </Card>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

interface Row {
  lessons: string;
  minutes: number;
  price: string;
}

/** `/tutor/packages`: the tutor's package editor (replace the whole offer; removed ones stop selling). */
export function PackageEditorPage() {
  return <RequireAuth role="tutor">{() => <PackageEditor />}</RequireAuth>;
}

function PackageEditor() {
  const toast = useToast();
  const [tutor, setTutor] = useState<Tutor | null>(null);
  const [rows, setRows] = useState<Row[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    Promise.all([api.tutors.me(ac.signal), api.packages.mine(ac.signal)])
      .then(([t, list]) => {
        setTutor(t);
        setRows(list.items.map((p) => ({ lessons: String(p.lessons), minutes: p.minutes, price: String(p.price_cents / 100) })));
      })
      .catch((err: unknown) => {
        if (ac.signal.aborted) return;
        setLoadError(err instanceof ApiError && err.code === "profile_not_found"
          ? "Create your tutor profile first: packages are priced in its currency and use its lesson lengths."
          : errorMessage(err));
      });
    return () => ac.abort();
  }, []);

  if (loadError) {
    return (
      <EmptyState icon="warning" title="Lesson packages"
        action={<Link href="/tutor/profile" className={buttonClass("primary")}>Edit profile</Link>}>
        {loadError}
      </EmptyState>
    );
  }
  if (!tutor || !rows) return <Skeleton className="h-64 w-full rounded-2xl" />;
  const lengths = [...(tutor.lesson_minutes ?? [])].sort((a, b) => a - b);

  function update(i: number, patch: Partial<Row>) {
    setRows((rs) => (rs ?? []).map((r, j) => (j === i ? { ...r, ...patch } : r)));
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    setSaving(true);
    setErrors({});
    setError(null);
    const body: PackageInput[] = (rows ?? []).map((r) => ({
      lessons: Number.parseInt(r.lessons, 10),
      minutes: r.minutes,
      price_cents: Math.round(Number.parseFloat(r.price) * 100),
    }));
    try {
      const saved = await api.packages.putMine(body);
      setRows(saved.items.map((p) => ({ lessons: String(p.lessons), minutes: p.minutes, price: String(p.price_cents / 100) })));
      toast.push({ kind: "success", title: "Packages saved", body: saved.items.length ? "Students see them on your page." : "You sell no packages now." });
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        const byRow: Record<string, string> = {};
        for (const d of (Array.isArray(err.details) ? err.details : []) as { field?: string; message?: string }[]) {
          const m = /packages\.(\d+)\.(\w+)/.exec(d.field ?? "");
          if (m) byRow[`${m[1]}.${m[2]}`] = d.message ?? "invalid";
        }
        setErrors(byRow);
      }
      setError(errorMessage(err));
    } finally {
      setSaving(false);
    }
  }

  return (
    <div className="space-y-6">
      <PageHeader title="Lesson packages"
        subtitle={`Sell several lessons at once, priced in ${tutor.currency}. Removing a package stops its sale; credits already bought stay valid.`} />
      <form onSubmit={save} className="space-y-4" data-testid="package-editor">
        {rows.length === 0 && <p className="text-sm text-slate-600">You sell no packages yet.</p>}
        {rows.map((r, i) => (
          <Card key={i} data-testid="package-row">
            <div className="grid gap-3 sm:grid-cols-[1fr_1fr_1fr_auto] sm:items-end">
              <TextInput label="Lessons" type="number" min={2} max={50} value={r.lessons} required
                error={errors[`${i}.lessons`]} onChange={(e) => update(i, { lessons: e.target.value })} data-testid="package-lessons" />
              <Select label="Lesson length" value={r.minutes} error={errors[`${i}.minutes`]}
                onChange={(e) => update(i, { minutes: Number(e.target.value) })} data-testid="package-minutes">
                {lengths.map((m) => (
                  <option key={m} value={m}>{m} minutes</option>
                ))}
              </Select>
              <TextInput label={`Price (${tutor.currency})`} type="number" min={0} step="0.01" value={r.price} required
                error={errors[`${i}.price_cents`]} onChange={(e) => update(i, { price: e.target.value })} data-testid="package-price" />
              <Button type="button" variant="ghost" onClick={() => setRows(rows.filter((_, j) => j !== i))} data-testid="remove-package">
                Remove
              </Button>
            </div>
          </Card>
        ))}
        {error && <Alert testId="package-editor-error">{error}</Alert>}
        <div className="flex flex-wrap gap-2">
          <Button type="button" variant="secondary" disabled={rows.length >= 10}
            onClick={() => setRows([...rows, { lessons: "5", minutes: lengths[0] ?? 60, price: "" }])} data-testid="add-package">
            Add a package
          </Button>
          <Button type="submit" loading={saving} data-testid="save-packages">
            Save packages
          </Button>
        </div>
      </form>
    </div>
  );
}
