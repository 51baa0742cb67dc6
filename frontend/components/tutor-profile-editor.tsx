"use client";

import Link from "next/link";
import { useEffect, useMemo, useState, type FormEvent, type KeyboardEvent } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { fmtMoney, userTimeZone } from "@/lib/time";
import { subjectLabel, type TutorProfileIn, type User } from "@/lib/types";
import { RequireAuth } from "./require-auth";
import { usePublicConfig } from "./session";
import { useToast } from "./toast";
import { COMMON_SUBJECTS } from "./tutor-search";
import { Alert, Badge, Button, buttonClass, Card, cx, Field, inputClass, PageHeader, Select, Skeleton, TextArea, TextInput } from "./ui";

const LESSON_CHOICES = [15, 30, 45, 60, 90, 120];
const CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "JPY", "INR"];

interface Draft {
  headline: string;
  bio: string;
  subjects: string[];
  rate: string;
  currency: string;
  timezone: string;
  lesson_minutes: number[];
  min_notice_minutes: string;
  buffer_minutes: string;
  max_advance_days: string;
  trial_on: boolean;
  trial_minutes: number;
  trial_price: string;
}

function draftFrom(t: TutorProfileIn | null): Draft {
  return {
    headline: t?.headline ?? "",
    bio: t?.bio ?? "",
    subjects: (t?.subjects ?? []).map(subjectLabel),
    rate: typeof t?.hourly_rate_cents === "number" ? String(t.hourly_rate_cents / 100) : "",
    currency: t?.currency ?? "USD",
    timezone: t?.timezone ?? userTimeZone(),
    lesson_minutes: t?.lesson_minutes?.length ? [...t.lesson_minutes] : [60],
    min_notice_minutes: String(t?.min_notice_minutes ?? 120),
    buffer_minutes: String(t?.buffer_minutes ?? 0),
    max_advance_days: String(t?.max_advance_days ?? 60),
    trial_on: Boolean(t?.trial),
    trial_minutes: t?.trial?.minutes ?? t?.lesson_minutes?.[0] ?? 30,
    trial_price: t?.trial ? String(t.trial.price_cents / 100) : "0",
  };
}

function timeZones(current: string): string[] {
  let zones: string[] = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  if (!zones.includes("UTC")) zones = ["UTC", ...zones];
  if (current && !zones.includes(current)) zones = [current, ...zones];
  return zones;
}

export function TutorProfileEditorPage() {
  return <RequireAuth role="tutor">{(user) => <Editor user={user} />}</RequireAuth>;
}

function Editor({ user }: { user: User }) {
  const toast = useToast();
  const config = usePublicConfig();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [exists, setExists] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [subjectInput, setSubjectInput] = useState("");
  const zones = useMemo(() => timeZones(draft?.timezone ?? ""), [draft?.timezone]);

  useEffect(() => {
    const ac = new AbortController();
    api.tutors
      .me(ac.signal)
      .then((t) => {
        setDraft(draftFrom(t));
        setExists(true);
      })
      .catch((err: unknown) => {
        if (ac.signal.aborted) return;
        if (err instanceof ApiError && err.status === 404) setDraft(draftFrom(null));
        else setLoadError(errorMessage(err));
      });
    return () => ac.abort();
  }, []);

  if (loadError) return <Alert title="Couldn't load your profile">{loadError}</Alert>;
  if (!draft) {
    return (
      <div className="space-y-4">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-96 w-full rounded-2xl" />
      </div>
    );
  }

  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => setDraft((d) => (d ? { ...d, [k]: v } : d));

  function addSubject(raw: string) {
    const s = raw.trim().replace(/,$/, "").trim();
    if (!s || !draft) return;
    if (!draft.subjects.some((x) => x.toLowerCase() === s.toLowerCase())) set("subjects", [...draft.subjects, s]);
    setSubjectInput("");
  }

  function onSubjectKey(e: KeyboardEvent<HTMLInputElement>) {
    if (e.key === "Enter" || e.key === ",") {
      e.preventDefault();
      addSubject(subjectInput);
    } else if (e.key === "Backspace" && !subjectInput && draft?.subjects.length) {
      set("subjects", draft.subjects.slice(0, -1));
    }
  }

  function toggleLength(m: number) {
    if (!draft) return;
    const has = draft.lesson_minutes.includes(m);
    set("lesson_minutes", (has ? draft.lesson_minutes.filter((x) => x !== m) : [...draft.lesson_minutes, m]).sort((a, b) => a - b));
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    if (!draft) return;
    const pending = subjectInput.trim() ? [...draft.subjects, subjectInput.trim()] : draft.subjects;
    const rate = Number(draft.rate);
    const local: Record<string, string> = {};
    if (!draft.rate.trim() || !Number.isFinite(rate) || rate < 0) local.hourly_rate_cents = "Enter your hourly rate, e.g. 35.";
    if (!draft.lesson_minutes.length) local.lesson_minutes = "Offer at least one lesson length.";
    const trialPrice = Number(draft.trial_price);
    if (draft.trial_on && (!draft.trial_price.trim() || !Number.isFinite(trialPrice) || trialPrice < 0))
      local.trial = "Enter the trial's price (0 for a free trial).";
    if (draft.trial_on && !draft.lesson_minutes.includes(draft.trial_minutes))
      local.trial = "The trial's length must be one of your lesson lengths.";
    if (Object.keys(local).length) {
      setFieldErrors(local);
      setError("Please fix the highlighted fields.");
      return;
    }
    const body: TutorProfileIn = {
      headline: draft.headline.trim(),
      bio: draft.bio.trim(),
      subjects: pending,
      hourly_rate_cents: Math.round(rate * 100),
      currency: draft.currency,
      timezone: draft.timezone,
      lesson_minutes: draft.lesson_minutes,
      min_notice_minutes: Number(draft.min_notice_minutes) || 0,
      buffer_minutes: Number(draft.buffer_minutes) || 0,
      max_advance_days: Number(draft.max_advance_days) || 1,
      trial: draft.trial_on ? { minutes: draft.trial_minutes, price_cents: Math.round(trialPrice * 100) } : null,
    };
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      const saved = await api.tutors.putMe(body);
      setDraft(draftFrom(saved));
      setSubjectInput("");
      setExists(true);
      toast.push({ kind: "success", title: "Profile saved", body: "Students see your changes right away." });
    } catch (err) {
      if (err instanceof ApiError) setFieldErrors(err.fieldErrors());
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div>
      <PageHeader
        title={exists ? "Your tutor profile" : "Set up your tutor profile"}
        subtitle={exists ? "This is what students see when they find you." : "A few details and students can start booking you."}
        actions={
          exists ? (
            <Link href={`/tutors/${encodeURIComponent(user.id)}`} className={buttonClass("secondary")}>
              View public page
            </Link>
          ) : undefined
        }
      />
      <form onSubmit={onSubmit} noValidate className="grid gap-6 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]" data-testid="profile-form">
        <Card className="space-y-5">
          {error && <Alert title="Couldn't save">{error}</Alert>}
          <TextInput
            label="Headline"
            value={draft.headline}
            onChange={(e) => set("headline", e.target.value)}
            placeholder="Patient maths tutor for GCSE and A-level"
            maxLength={200}
            error={fieldErrors.headline}
            hint="One line shown in search results."
            name="headline"
          />
          <TextArea
            label="About you"
            rows={6}
            value={draft.bio}
            onChange={(e) => set("bio", e.target.value)}
            placeholder="How you teach, what students can expect, your experience…"
            maxLength={5000}
            error={fieldErrors.bio}
            name="bio"
          />
          <Field label="Subjects" error={fieldErrors.subjects} hint="Press Enter or comma to add a subject.">
            {({ id, describedBy, invalid }) => (
              <div className={cx(inputClass(invalid), "flex flex-wrap items-center gap-1.5 focus-within:ring-2 focus-within:ring-indigo-600")}>
                {draft.subjects.map((s) => (
                  <Badge key={s} color="indigo" className="gap-1">
                    {s}
                    <button
                      type="button"
                      onClick={() => set("subjects", draft.subjects.filter((x) => x !== s))}
                      aria-label={`Remove ${s}`}
                      className="-mr-1 rounded-full px-1 hover:bg-indigo-100"
                    >
                      <span aria-hidden="true">×</span>
                    </button>
                  </Badge>
                ))}
                <input
                  id={id}
                  aria-describedby={describedBy}
                  list="profile-subjects"
                  value={subjectInput}
                  onChange={(e) => setSubjectInput(e.target.value)}
                  onKeyDown={onSubjectKey}
                  onBlur={() => addSubject(subjectInput)}
                  placeholder={draft.subjects.length ? "" : "e.g. Mathematics"}
                  className="min-w-[8rem] flex-1 border-0 bg-transparent p-0.5 text-sm focus:outline-none"
                  name="subject"
                />
                <datalist id="profile-subjects">
                  {COMMON_SUBJECTS.map((s) => (
                    <option key={s} value={s} />
                  ))}
                </datalist>
              </div>
            )}
          </Field>
          <fieldset>
            <legend className="text-sm font-medium text-slate-800">Lesson lengths</legend>
            <div className="mt-1.5 flex flex-wrap gap-2">
              {[...new Set([...LESSON_CHOICES, ...draft.lesson_minutes])]
                .sort((a, b) => a - b)
                .map((m) => {
                  const on = draft.lesson_minutes.includes(m);
                  return (
                    <button
                      key={m}
                      type="button"
                      aria-pressed={on}
                      onClick={() => toggleLength(m)}
                      className={cx(
                        "rounded-xl px-3.5 py-2 text-sm font-medium ring-1",
                        on ? "bg-indigo-600 text-white ring-indigo-600" : "bg-white text-slate-700 ring-slate-300 hover:bg-slate-50",
                      )}
                    >
                      {m} min
                    </button>
                  );
                })}
            </div>
            {fieldErrors.lesson_minutes && <p className="mt-1 text-xs font-medium text-rose-600">{fieldErrors.lesson_minutes}</p>}
          </fieldset>
        </Card>

        <div className="space-y-6">
          <Card className="space-y-5">
            <h2 className="text-base font-semibold text-slate-900">Price</h2>
            <div className="grid grid-cols-[1fr_7rem] gap-3">
              <TextInput
                label="Hourly rate"
                type="number"
                inputMode="decimal"
                min={0}
                step="0.01"
                value={draft.rate}
                onChange={(e) => set("rate", e.target.value)}
                error={fieldErrors.hourly_rate_cents}
                name="rate"
              />
              <Select label="Currency" value={draft.currency} onChange={(e) => set("currency", e.target.value)} error={fieldErrors.currency}>
                {[...new Set([draft.currency, ...CURRENCIES])].map((c) => (
                  <option key={c}>{c}</option>
                ))}
              </Select>
            </div>
            <p className="text-xs text-slate-500">Shorter and longer lessons are priced pro rata.</p>
            {config && (
              <p className="text-xs text-slate-500" data-testid="rate-fee">
                {feeNote(draft.rate, draft.currency, config.platform_fee_bps)} See{" "}
                <Link href="/payouts" className="underline">
                  Payouts
                </Link>
                .
              </p>
            )}
          </Card>
          <Card className="space-y-4" data-testid="trial-editor">
            <h2 className="text-base font-semibold text-slate-900">Trial lesson</h2>
            <label className="flex items-center gap-2 text-sm text-slate-800">
              <input
                type="checkbox"
                checked={draft.trial_on}
                onChange={(e) => set("trial_on", e.target.checked)}
                data-testid="trial-on"
                name="trial_on"
              />
              Offer new students one trial lesson
            </label>
            {draft.trial_on && (
              <div className="grid grid-cols-2 gap-3">
                <Select
                  label="Length"
                  value={String(draft.trial_minutes)}
                  onChange={(e) => set("trial_minutes", Number(e.target.value))}
                  data-testid="trial-minutes"
                >
                  {draft.lesson_minutes.map((m) => (
                    <option key={m} value={m}>
                      {m} min
                    </option>
                  ))}
                </Select>
                <TextInput
                  label={`Price (${draft.currency})`}
                  type="number"
                  inputMode="decimal"
                  min={0}
                  step="0.01"
                  value={draft.trial_price}
                  onChange={(e) => set("trial_price", e.target.value)}
                  data-testid="trial-price"
                  name="trial_price"
                />
              </div>
            )}
            {fieldErrors.trial && <p className="text-xs font-medium text-rose-600">{fieldErrors.trial}</p>}
            <p className="text-xs text-slate-500">A student&apos;s first lesson with you may be the trial, once. 0 makes it free.</p>
          </Card>
          <Card className="space-y-5">
            <h2 className="text-base font-semibold text-slate-900">Scheduling</h2>
            <Select label="Your time zone" value={draft.timezone} onChange={(e) => set("timezone", e.target.value)} error={fieldErrors.timezone} hint="Your weekly hours are in this zone.">
              {zones.map((z) => (
                <option key={z}>{z}</option>
              ))}
            </Select>
            <TextInput
              label="Minimum notice (minutes)"
              type="number"
              min={0}
              value={draft.min_notice_minutes}
              onChange={(e) => set("min_notice_minutes", e.target.value)}
              error={fieldErrors.min_notice_minutes}
              hint="How soon before a lesson students can still book."
            />
            <TextInput
              label="Break after each lesson (minutes)"
              type="number"
              min={0}
              value={draft.buffer_minutes}
              onChange={(e) => set("buffer_minutes", e.target.value)}
              error={fieldErrors.buffer_minutes}
            />
            <TextInput
              label="Bookable up to (days ahead)"
              type="number"
              min={1}
              value={draft.max_advance_days}
              onChange={(e) => set("max_advance_days", e.target.value)}
              error={fieldErrors.max_advance_days}
            />
          </Card>
          <Button type="submit" size="lg" className="w-full" loading={busy} data-testid="profile-save">
            {exists ? "Save changes" : "Publish profile"}
          </Button>
          {exists && (
            <p className="text-center text-sm text-slate-600">
              Next: <Link href="/tutor/availability" className="font-semibold text-indigo-600 hover:text-indigo-700">set your weekly hours →</Link>
            </p>
          )}
        </div>
      </form>
    </div>
  );
}

/** The platform's share of an hourly rate, as the server computes it (rounded down, in the tutor's favour). */
function feeNote(rate: string, currency: string, bps: number): string {
  const cents = Math.round(Number(rate) * 100);
  const keep = `EduStream keeps ${bps / 100}% of each lesson.`;
  if (!Number.isFinite(cents) || cents <= 0) return keep;
  const fee = Math.floor((cents * bps) / 10000);
  return `${keep} Of an hour at ${fmtMoney(cents, currency)} you get ${fmtMoney(cents - fee, currency)}.`;
}
