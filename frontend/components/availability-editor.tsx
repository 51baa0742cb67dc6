"use client";

import { useEffect, useState } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { addDays, localDateKey } from "@/lib/time";
import type { Availability, AvailabilityInput, AvailabilityOverride, AvailabilityRule } from "@/lib/types";
import { RequireAuth } from "./require-auth";
import { useToast } from "./toast";
import { Alert, Button, Card, cx, EmptyState, inputClass, PageHeader, Skeleton } from "./ui";

const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

interface Range {
  start: string;
  end: string;
}

interface OverrideDraft {
  key: number;
  date: string;
  dayOff: boolean;
  ranges: Range[];
}

interface Draft {
  week: Range[][];
  overrides: OverrideDraft[];
}

let overrideKey = 1;

/** `input type=time` cannot say 24:00; an end of 00:00 after a later start means midnight. */
function endForApi(r: Range): string {
  return r.end === "00:00" && r.start !== "00:00" ? "24:00" : r.end;
}

function endForInput(end: string): string {
  return end === "24:00" ? "00:00" : end;
}

function draftFrom(a: Pick<Availability, "rules" | "overrides">): Draft {
  const week: Range[][] = Array.from({ length: 7 }, () => []);
  for (const r of a.rules) {
    if (r.weekday >= 0 && r.weekday <= 6) week[r.weekday].push({ start: r.start, end: endForInput(r.end) });
  }
  for (const day of week) day.sort((x, y) => x.start.localeCompare(y.start));
  const byDate = new Map<string, OverrideDraft>();
  for (const o of a.overrides) {
    let d = byDate.get(o.date);
    if (!d) {
      d = { key: overrideKey++, date: o.date, dayOff: true, ranges: [] };
      byDate.set(o.date, d);
    }
    if (o.start && o.end) {
      d.dayOff = false;
      d.ranges.push({ start: o.start, end: endForInput(o.end) });
    }
  }
  const overrides = [...byDate.values()].sort((x, y) => x.date.localeCompare(y.date));
  return { week, overrides };
}

/** The PUT body plus, for each rule/override index, where it sits in the form (for 422 details). */
function toApi(d: Draft): { body: AvailabilityInput; ruleAt: [number, number][]; overrideAt: [number, number][] } {
  const rules: AvailabilityRule[] = [];
  const ruleAt: [number, number][] = [];
  d.week.forEach((ranges, weekday) =>
    ranges.forEach((r, i) => {
      rules.push({ weekday, start: r.start, end: endForApi(r) });
      ruleAt.push([weekday, i]);
    }),
  );
  const overrides: AvailabilityOverride[] = [];
  const overrideAt: [number, number][] = [];
  d.overrides.forEach((o, oi) => {
    if (o.dayOff || o.ranges.length === 0) {
      overrides.push({ date: o.date });
      overrideAt.push([oi, -1]);
    } else {
      o.ranges.forEach((r, i) => {
        overrides.push({ date: o.date, start: r.start, end: endForApi(r) });
        overrideAt.push([oi, i]);
      });
    }
  });
  return { body: { rules, overrides }, ruleAt, overrideAt };
}

export function AvailabilityEditorPage() {
  return <RequireAuth role="tutor">{() => <Editor />}</RequireAuth>;
}

function Editor() {
  const toast = useToast();
  const [draft, setDraft] = useState<Draft | null>(null);
  const [tz, setTz] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [errorsAt, setErrorsAt] = useState<Record<string, string>>({});
  const [dirty, setDirty] = useState(false);

  useEffect(() => {
    const ac = new AbortController();
    api.tutors
      .availability(ac.signal)
      .then((a) => setDraft(draftFrom(a)))
      .catch((err: unknown) => {
        if (ac.signal.aborted) return;
        if (err instanceof ApiError && err.status === 404) setDraft(draftFrom({ rules: [], overrides: [] }));
        else setLoadError(errorMessage(err));
      });
    api.tutors
      .me(ac.signal)
      .then((t) => setTz(t.timezone ?? null))
      .catch(() => undefined);
    return () => ac.abort();
  }, []);

  if (loadError) return <Alert title="Couldn't load your availability">{loadError}</Alert>;
  if (!draft) {
    return (
      <div className="space-y-4">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-[28rem] w-full rounded-2xl" />
      </div>
    );
  }

  const update = (fn: (d: Draft) => Draft) => {
    setDraft((d) => (d ? fn(d) : d));
    setDirty(true);
  };

  const setWeekRange = (day: number, i: number, patch: Partial<Range>) =>
    update((d) => ({ ...d, week: d.week.map((rs, w) => (w === day ? rs.map((r, j) => (j === i ? { ...r, ...patch } : r)) : rs)) }));
  const addWeekRange = (day: number) =>
    update((d) => {
      const last = d.week[day][d.week[day].length - 1];
      const next = last ? { start: last.end === "00:00" ? "18:00" : last.end, end: "20:00" } : { start: "09:00", end: "17:00" };
      return { ...d, week: d.week.map((rs, w) => (w === day ? [...rs, next] : rs)) };
    });
  const removeWeekRange = (day: number, i: number) =>
    update((d) => ({ ...d, week: d.week.map((rs, w) => (w === day ? rs.filter((_, j) => j !== i) : rs)) }));
  const copyToWeekdays = (day: number) =>
    update((d) => ({ ...d, week: d.week.map((rs, w) => (w < 5 ? d.week[day].map((r) => ({ ...r })) : rs)) }));

  const setOverride = (key: number, patch: Partial<OverrideDraft>) =>
    update((d) => ({ ...d, overrides: d.overrides.map((o) => (o.key === key ? { ...o, ...patch } : o)) }));
  const addOverride = () =>
    update((d) => {
      const used = new Set(d.overrides.map((o) => o.date));
      let day = addDays(new Date(), 1);
      while (used.has(localDateKey(day))) day = addDays(day, 1);
      return { ...d, overrides: [...d.overrides, { key: overrideKey++, date: localDateKey(day), dayOff: true, ranges: [] }] };
    });
  const removeOverride = (key: number) => update((d) => ({ ...d, overrides: d.overrides.filter((o) => o.key !== key) }));

  async function save() {
    if (!draft) return;
    const { body, ruleAt, overrideAt } = toApi(draft);
    setBusy(true);
    setError(null);
    setErrorsAt({});
    try {
      const saved = await api.tutors.putAvailability(body);
      if (saved && Array.isArray(saved.rules)) setDraft(draftFrom(saved));
      setDirty(false);
      toast.push({ kind: "success", title: "Availability saved", body: "Students now see your new hours." });
    } catch (err) {
      setError(errorMessage(err));
      if (err instanceof ApiError) {
        const at: Record<string, string> = {};
        for (const [path, msg] of Object.entries(err.fieldErrors())) {
          const m = /^(rules|overrides)\.(\d+)(?:\.(\w+))?$/.exec(path);
          if (!m) continue;
          const idx = Number(m[2]);
          const where = m[1] === "rules" ? ruleAt[idx] : overrideAt[idx];
          if (where) at[`${m[1]}:${where[0]}:${where[1]}`] = msg;
        }
        setErrorsAt(at);
      }
    } finally {
      setBusy(false);
    }
  }

  const today = localDateKey(new Date());

  return (
    <div>
      <PageHeader
        title="Your availability"
        subtitle={
          <>
            Weekly hours repeat every week{tz ? ` in your time zone (${tz})` : ""}. Date overrides replace them for one day.
          </>
        }
        actions={
          <Button onClick={save} loading={busy} size="lg" data-testid="availability-save">
            {dirty ? "Save changes" : "Save"}
          </Button>
        }
      />
      {error && (
        <div className="mb-4">
          <Alert title="Couldn't save your availability">{error}</Alert>
        </div>
      )}

      <div className="grid gap-6 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
        <Card>
          <h2 className="text-base font-semibold text-slate-900">Weekly hours</h2>
          <ul className="mt-4 divide-y divide-slate-100">
            {WEEKDAYS.map((name, day) => {
              const ranges = draft.week[day];
              return (
                <li key={name} className="flex flex-col gap-3 py-4 sm:flex-row sm:items-start" data-testid={`weekday-${day}`}>
                  <div className="flex w-36 shrink-0 items-center gap-2 pt-2">
                    <span className={cx("h-2 w-2 rounded-full", ranges.length ? "bg-emerald-500" : "bg-slate-300")} aria-hidden="true" />
                    <span className="text-sm font-semibold text-slate-900">{name}</span>
                  </div>
                  <div className="flex-1 space-y-2">
                    {ranges.length === 0 && <p className="pt-2 text-sm text-slate-500">Unavailable</p>}
                    {ranges.map((r, i) => (
                      <RangeRow
                        key={i}
                        range={r}
                        label={`${name} hours ${i + 1}`}
                        error={errorsAt[`rules:${day}:${i}`]}
                        onChange={(p) => setWeekRange(day, i, p)}
                        onRemove={() => removeWeekRange(day, i)}
                      />
                    ))}
                    <div className="flex flex-wrap gap-2">
                      <Button variant="ghost" size="sm" onClick={() => addWeekRange(day)} aria-label={`Add hours on ${name}`}>
                        + Add hours
                      </Button>
                      {ranges.length > 0 && day === 0 && (
                        <Button variant="ghost" size="sm" onClick={() => copyToWeekdays(0)}>
                          Copy to Mon–Fri
                        </Button>
                      )}
                    </div>
                  </div>
                </li>
              );
            })}
          </ul>
        </Card>

        <Card className="self-start">
          <div className="flex items-center justify-between gap-2">
            <h2 className="text-base font-semibold text-slate-900">Date overrides</h2>
            <Button variant="secondary" size="sm" onClick={addOverride} data-testid="add-override">
              + Add a date
            </Button>
          </div>
          <p className="mt-1 text-sm text-slate-600">Holidays, a day off, or different hours on one date.</p>
          <div className="mt-4 space-y-3">
            {draft.overrides.length === 0 ? (
              <EmptyState icon="sun" title="No overrides">
                Your weekly hours apply every week.
              </EmptyState>
            ) : (
              draft.overrides.map((o, oi) => (
                <div key={o.key} className="rounded-xl bg-slate-50 p-3 ring-1 ring-slate-200" data-testid="override">
                  <div className="flex flex-wrap items-center gap-2">
                    <label className="sr-only" htmlFor={`ov-date-${o.key}`}>
                      Date
                    </label>
                    <input
                      id={`ov-date-${o.key}`}
                      type="date"
                      min={today}
                      value={o.date}
                      onChange={(e) => setOverride(o.key, { date: e.target.value })}
                      className={inputClass(Boolean(errorsAt[`overrides:${oi}:-1`]), "w-auto")}
                    />
                    <div role="radiogroup" aria-label={`What happens on ${o.date}`} className="flex rounded-lg bg-white p-0.5 ring-1 ring-slate-200">
                      {[
                        [true, "Day off"],
                        [false, "Custom hours"],
                      ].map(([off, label]) => (
                        <button
                          key={String(label)}
                          type="button"
                          role="radio"
                          aria-checked={o.dayOff === off}
                          onClick={() =>
                            setOverride(o.key, {
                              dayOff: off as boolean,
                              ranges: !off && o.ranges.length === 0 ? [{ start: "09:00", end: "17:00" }] : o.ranges,
                            })
                          }
                          className={cx(
                            "rounded-md px-2.5 py-1 text-xs font-semibold",
                            o.dayOff === off ? "bg-indigo-600 text-white" : "text-slate-600 hover:bg-slate-100",
                          )}
                        >
                          {label as string}
                        </button>
                      ))}
                    </div>
                    <Button variant="ghost" size="sm" className="ml-auto" onClick={() => removeOverride(o.key)} aria-label={`Remove override on ${o.date}`}>
                      Remove
                    </Button>
                  </div>
                  {errorsAt[`overrides:${oi}:-1`] && <p className="mt-1 text-xs font-medium text-rose-600">{errorsAt[`overrides:${oi}:-1`]}</p>}
                  {!o.dayOff && (
                    <div className="mt-3 space-y-2">
                      {o.ranges.map((r, i) => (
                        <RangeRow
                          key={i}
                          range={r}
                          label={`${o.date} hours ${i + 1}`}
                          error={errorsAt[`overrides:${oi}:${i}`]}
                          onChange={(p) => setOverride(o.key, { ranges: o.ranges.map((x, j) => (j === i ? { ...x, ...p } : x)) })}
                          onRemove={() => {
                            const ranges = o.ranges.filter((_, j) => j !== i);
                            setOverride(o.key, { ranges, dayOff: ranges.length === 0 });
                          }}
                        />
                      ))}
                      <Button
                        variant="ghost"
                        size="sm"
                        onClick={() => setOverride(o.key, { ranges: [...o.ranges, { start: "18:00", end: "20:00" }] })}
                      >
                        + Add hours
                      </Button>
                    </div>
                  )}
                </div>
              ))
            )}
          </div>
        </Card>
      </div>
    </div>
  );
}

function RangeRow({
  range,
  label,
  error,
  onChange,
  onRemove,
}: {
  range: Range;
  label: string;
  error?: string;
  onChange: (p: Partial<Range>) => void;
  onRemove: () => void;
}) {
  return (
    <div>
      <div className="flex items-center gap-2">
        <input
          type="time"
          step={300}
          aria-label={`${label} start`}
          value={range.start}
          onChange={(e) => onChange({ start: e.target.value })}
          className={inputClass(Boolean(error), "w-32")}
        />
        <span aria-hidden="true" className="text-slate-400">
          –
        </span>
        <input
          type="time"
          step={300}
          aria-label={`${label} end`}
          value={range.end}
          onChange={(e) => onChange({ end: e.target.value })}
          className={inputClass(Boolean(error), "w-32")}
        />
        <button
          type="button"
          onClick={onRemove}
          aria-label={`Remove ${label}`}
          className="rounded-lg p-2 text-slate-400 hover:bg-rose-50 hover:text-rose-600"
        >
          <span aria-hidden="true">✕</span>
        </button>
      </div>
      {error && <p className="mt-1 text-xs font-medium text-rose-600">{error}</p>}
    </div>
  );
}
