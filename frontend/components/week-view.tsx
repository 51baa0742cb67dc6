"use client";

import { useMemo, useState } from "react";
import { useNow } from "@/lib/hooks";
import { effectiveStatus, slotKey } from "@/lib/slots";
import {
  addDays,
  fmtCountdown,
  fmtDayNum,
  fmtDate,
  fmtDayShort,
  fmtTime,
  fmtWeekRange,
  localDateKey,
  spokenDuration,
  startOfWeek,
  userTimeZone,
} from "@/lib/time";
import type { Slot } from "@/lib/types";
import { useTutorSlots } from "@/lib/useTutorSlots";
import { Alert, Button, cx, Skeleton } from "./ui";
import { useLive } from "./live";
import { JoinLine, type LineState } from "./waitlist";

interface WeekViewProps {
  tutorId: string;
  minutes?: number;
  /** Whether live changes line up with the slots shown (lesson length = the feed's). */
  liveExact?: boolean;
  maxAdvanceDays?: number;
  onPick: (slot: Slot) => void;
  /** Normalised start of the viewer's own hold, shown as "Your hold". */
  mineStart?: string | null;
  selectedStart?: string | null;
  busyStart?: string | null;
  /** The tutor's IANA zone, named next to the viewer's so students know whose clock the hours are on. */
  tutorTimeZone?: string;
  pickHint?: string;
  /** The waitlist on each slot (students only): "Join the line" under held slots. */
  lineFor?: (slot: Slot) => LineState;
  onJoinLine?: (slot: Slot) => void;
  joiningStart?: string | null;
}

/**
 * The slot's status as shown: a hold past its `held_until` reads open, unless students wait in
 * line for the slot, to whom the server is handing it on (it never opens in between).
 */
function shownStatus(slot: Slot, now: number, lineFor?: (slot: Slot) => LineState): Slot["status"] {
  const status = effectiveStatus(slot, now);
  if (status === "open" && slot.status === "held" && lineFor && lineFor(slot).waiting > 0) return "held";
  return status;
}

function windowFor(weekStart: Date): { weekStart: Date; fromMs: number; toMs: number } {
  const nowMinute = Math.floor(Date.now() / 60_000) * 60_000;
  return {
    weekStart,
    fromMs: Math.max(weekStart.getTime(), nowMinute),
    toMs: addDays(weekStart, 7).getTime(),
  };
}

export function WeekView(props: WeekViewProps) {
  const now = useNow(1000);
  if (!now) return <WeekSkeleton />;
  return <WeekViewInner {...props} />;
}

function WeekViewInner({
  tutorId,
  minutes,
  liveExact = true,
  maxAdvanceDays,
  onPick,
  mineStart,
  selectedStart,
  busyStart,
  tutorTimeZone,
  pickHint = "Pick a time to hold it for a few minutes while you pay.",
  lineFor,
  onJoinLine,
  joiningStart,
}: WeekViewProps) {
  const [win, setWin] = useState(() => windowFor(startOfWeek(new Date())));
  const now = useNow(1000);
  const { state: liveState } = useLive();
  const { slots, loading, error, reload } = useTutorSlots(tutorId, win.fromMs, win.toMs, minutes, liveExact);

  const thisWeek = startOfWeek(new Date(now || Date.now()));
  const canGoBack = win.weekStart.getTime() > thisWeek.getTime();
  const lastDay = maxAdvanceDays ? addDays(new Date(), maxAdvanceDays) : null;
  const canGoForward = !lastDay || addDays(win.weekStart, 7).getTime() <= lastDay.getTime();

  const days = useMemo(() => Array.from({ length: 7 }, (_, i) => addDays(win.weekStart, i)), [win.weekStart]);
  const byDay = useMemo(() => {
    const m = new Map<string, Slot[]>();
    for (const s of slots) {
      const k = localDateKey(new Date(s.start));
      const list = m.get(k) ?? [];
      list.push(s);
      m.set(k, list);
    }
    return m;
  }, [slots]);

  const visible = slots.filter((s) => Date.parse(s.end) > now);
  const openCount = visible.filter((s) => shownStatus(s, now, lineFor) === "open").length;

  return (
    <section aria-label="Available times" data-testid="week-view" data-loading={loading || undefined}>
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div className="flex items-center gap-2">
          <Button
            variant="secondary"
            size="sm"
            onClick={() => setWin(windowFor(addDays(win.weekStart, -7)))}
            disabled={!canGoBack}
            aria-label="Previous week"
            data-testid="week-prev"
          >
            <span aria-hidden="true">←</span>
          </Button>
          <Button
            variant="secondary"
            size="sm"
            onClick={() => setWin(windowFor(addDays(win.weekStart, 7)))}
            disabled={!canGoForward}
            aria-label="Next week"
            data-testid="week-next"
          >
            <span aria-hidden="true">→</span>
          </Button>
          {canGoBack && (
            <Button variant="ghost" size="sm" onClick={() => setWin(windowFor(startOfWeek(new Date())))}>
              This week
            </Button>
          )}
          <h3 className="ml-1 text-sm font-semibold text-slate-900" aria-live="polite" data-testid="week-label">
            {fmtWeekRange(win.weekStart)}
          </h3>
        </div>
        <p className="flex items-center gap-2 text-xs text-slate-500">
          <LiveDot state={liveState} />
          <span data-testid="zone-note">
            Times shown in your zone ({userTimeZone()})
            {tutorTimeZone ? <>; tutor&apos;s zone: {tutorTimeZone}</> : null}
          </span>
        </p>
      </div>
      <p className="mt-2 text-sm text-slate-600">{pickHint}</p>

      {error ? (
        <div className="mt-4">
          <Alert title="Couldn't load times" testId="slots-error">
            {error}{" "}
            <button type="button" className="font-semibold underline" onClick={reload}>
              Try again
            </button>
          </Alert>
        </div>
      ) : (
        <div className="mt-4 grid grid-cols-2 gap-2 sm:grid-cols-4 lg:grid-cols-7" aria-busy={loading}>
          {days.map((d) => {
            const key = localDateKey(d);
            const daySlots = (byDay.get(key) ?? []).filter((s) => Date.parse(s.end) > now);
            const isToday = key === localDateKey(new Date(now));
            const isPast = key < localDateKey(new Date(now));
            return (
              <div
                key={key}
                // Past days keep the calendar shape on wide screens; phones skip them.
                className={cx("min-w-0 rounded-xl bg-slate-50/80 p-2 ring-1 ring-slate-100", isPast && "hidden sm:block")}
                role="group" aria-label={fmtDate(d)}>
                <div className={cx("mb-2 text-center", isToday ? "text-indigo-700" : "text-slate-700")}>
                  <div className="text-xs font-medium uppercase tracking-wide">{fmtDayShort(d)}</div>
                  <div className="text-sm font-semibold">{fmtDayNum(d)}</div>
                </div>
                <div className="flex flex-col gap-1.5">
                  {loading ? (
                    <>
                      <Skeleton className="h-9" />
                      <Skeleton className="h-9" />
                      <Skeleton className="h-9 opacity-60" />
                    </>
                  ) : daySlots.length === 0 ? (
                    <p className="py-3 text-center text-xs text-slate-600">{isPast ? "Past" : "No times"}</p>
                  ) : (
                    daySlots.map((s) => {
                      const mine = mineStart === slotKey(s.start);
                      const busy = busyStart === slotKey(s.start);
                      const heldByOther = shownStatus(s, now, lineFor) === "held" && !mine && !busy;
                      return (
                        <div key={slotKey(s.start)} className="flex flex-col gap-0.5">
                          <SlotButton
                            slot={s}
                            status={shownStatus(s, now, lineFor)}
                            now={now}
                            mine={mine}
                            selected={selectedStart === slotKey(s.start)}
                            busy={busy}
                            onPick={onPick}
                          />
                          {heldByOther && lineFor && onJoinLine && (
                            <JoinLine
                              slot={s}
                              line={lineFor(s)}
                              busy={joiningStart === slotKey(s.start)}
                              onJoin={onJoinLine}
                            />
                          )}
                        </div>
                      );
                    })
                  )}
                </div>
              </div>
            );
          })}
        </div>
      )}
      {!loading && !error && visible.length === 0 && (
        <p data-testid="week-empty" className="mt-4 rounded-xl bg-indigo-50/60 px-4 py-3 text-center text-sm text-indigo-900">
          No free times this week.{" "}
          {canGoForward && (
            <button type="button" className="font-semibold underline" onClick={() => setWin(windowFor(addDays(win.weekStart, 7)))}>
              Look at next week →
            </button>
          )}
        </p>
      )}
      {!loading && !error && visible.length > 0 && (
        <p className="sr-only" aria-live="polite">
          {openCount} open times this week.
        </p>
      )}
    </section>
  );
}

function SlotButton({
  slot,
  status,
  now,
  mine,
  selected,
  busy,
  onPick,
}: {
  slot: Slot;
  status: Slot["status"];
  now: number;
  mine: boolean;
  selected: boolean;
  busy: boolean;
  onPick: (s: Slot) => void;
}) {
  const time = fmtTime(slot.start);
  const left = slot.held_until ? Math.max(0, Date.parse(slot.held_until) - now) : 0;
  // The viewer's own hold, and the one being placed: the live "held" change for it often arrives
  // before the hold's response, and must not flash as someone else's (disabled) slot meanwhile.
  const own = mine || busy;
  const held = status === "held" && !own;
  const label = mine
    ? `${time}, your hold`
    : busy
      ? `${time}, holding…`
      : held
        ? `${time}, held by another student${slot.held_until ? `, may free up in ${spokenDuration(left)}` : ""}`
        : `${time}, available`;
  return (
    <button
      type="button"
      data-testid="slot"
      data-start={slotKey(slot.start)}
      data-status={status}
      data-mine={mine || undefined}
      data-pending={(busy && !mine) || undefined}
      aria-label={label}
      aria-disabled={held ? true : undefined}
      aria-busy={(busy && !mine) || undefined}
      aria-pressed={selected || undefined}
      onClick={() => {
        if (held || own) return;
        onPick(slot);
      }}
      className={cx(
        "relative w-full whitespace-nowrap rounded-lg px-1.5 py-2 text-[13px] font-semibold tabular-nums transition-colors",
        own
          ? "bg-indigo-600 text-white shadow-sm"
          : held
            ? "cursor-not-allowed bg-amber-50 text-amber-800 ring-1 ring-amber-200"
            : selected
              ? "bg-indigo-600 text-white ring-2 ring-indigo-300"
              : "bg-white text-indigo-700 ring-1 ring-indigo-200 hover:bg-indigo-50 hover:ring-indigo-400",
      )}
    >
      <span className="block">{time}</span>
      {own ? (
        <span className="block text-[11px] font-medium text-indigo-100">{mine ? "Your hold" : "Holding…"}</span>
      ) : held ? (
        <span className="block text-[11px] font-medium" data-testid="slot-held-countdown">
          Held{slot.held_until ? ` · ${fmtCountdown(left)}` : ""}
        </span>
      ) : null}
    </button>
  );
}

export function LiveDot({ state }: { state: string }) {
  const live = state === "live";
  return (
    <span className="inline-flex items-center gap-1.5" data-testid="live-status" data-state={state}>
      <span className={cx("relative inline-flex h-2 w-2 rounded-full", live ? "bg-emerald-500" : state === "offline" ? "bg-rose-400" : "bg-amber-400")}>
        {live && <span className="absolute inset-0 animate-ping rounded-full bg-emerald-400 opacity-60" />}
      </span>
      <span>{live ? "Live" : state === "offline" ? "Reconnecting…" : "Connecting…"}</span>
      <span aria-hidden="true">·</span>
    </span>
  );
}

function WeekSkeleton() {
  return (
    <div className="grid grid-cols-2 gap-2 sm:grid-cols-4 lg:grid-cols-7" aria-hidden="true">
      {Array.from({ length: 7 }, (_, i) => (
        <div key={i} className="space-y-2 rounded-xl bg-slate-50 p-2">
          <Skeleton className="mx-auto h-8 w-12" />
          <Skeleton className="h-9" />
          <Skeleton className="h-9" />
        </div>
      ))}
    </div>
  );
}
