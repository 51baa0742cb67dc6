"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError, errorMessage, uuid } from "@/lib/api";
import { slotKey } from "@/lib/slots";
import { fmtMoney } from "@/lib/time";
import { ratingOf, subjectLabel, type Booking, type Slot, type Tutor } from "@/lib/types";
import { HoldPanel } from "./hold-panel";
import { messageHref } from "./messages";
import { TutorPackages } from "./packages";
import { TrialBadge, trialLabel, TutorReviews } from "./reviews";
import { useLiveEvent } from "./live";
import { useSession } from "./session";
import { useToast } from "./toast";
import { Stars } from "./tutor-search";
import { Avatar, Badge, buttonClass, Card, cx, EmptyState, Skeleton } from "./ui";
import { useTutorLines } from "./waitlist";
import { WeekView } from "./week-view";

export function TutorPage({ tutorId }: { tutorId: string }) {
  const router = useRouter();
  const toast = useToast();
  const { user } = useSession();
  const [tutor, setTutor] = useState<Tutor | null>(null);
  const [loadError, setLoadError] = useState<ApiError | Error | null>(null);
  const [minutes, setMinutes] = useState<number | undefined>(undefined);
  const [hold, setHold] = useState<Booking | null>(null);
  const [holding, setHolding] = useState<string | null>(null);
  const [trialMode, setTrialMode] = useState(false);
  const panelRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const ac = new AbortController();
    setTutor(null);
    setLoadError(null);
    api.tutors
      .get(tutorId, ac.signal)
      .then((t) => {
        setTutor(t);
        const lengths = [...(t.lesson_minutes ?? [])].sort((a, b) => a - b);
        setMinutes(lengths[0]);
      })
      .catch((err: unknown) => {
        if (!ac.signal.aborted) setLoadError(err instanceof Error ? err : new Error(String(err)));
      });
    return () => ac.abort();
  }, [tutorId]);

  // Coming back to the page with a live hold: show it again.
  useEffect(() => {
    if (user?.role !== "student") return;
    const ac = new AbortController();
    api.bookings
      .list({ status: "held", limit: 50 }, ac.signal)
      .then((page) => {
        const mine = page.items.find(
          (b) => b.tutor_id === tutorId && b.status === "held" && (!b.expires_at || Date.parse(b.expires_at) > Date.now()),
        );
        if (mine) setHold((h) => h ?? mine);
      })
      .catch(() => undefined);
    return () => ac.abort();
  }, [user, tutorId]);

  const lengths = useMemo(() => [...(tutor?.lesson_minutes ?? [])].sort((a, b) => a - b), [tutor]);
  const liveExact = minutes === undefined || lengths.length === 0 || minutes === lengths[0];
  const activeHold = hold && hold.status === "held" && (!hold.expires_at || Date.parse(hold.expires_at) > Date.now());
  const lines = useTutorLines(tutorId, minutes);
  // A slot handed to the viewer from a waitlist is their hold: show it with its Pay button.
  useLiveEvent("waitlist.offer", ({ booking }) => {
    if (booking.tutor_id === tutorId) setHold(booking);
  });

  const onPick = useCallback(
    async (slot: Slot) => {
      if (user === undefined) return;
      if (user === null) {
        toast.push({ kind: "info", title: "Sign in to book", body: "Create a free student account or sign in to hold this time." });
        router.push(`/login?next=${encodeURIComponent(`/tutors/${tutorId}`)}`);
        return;
      }
      if (user.role !== "student") {
        toast.push({ kind: "warning", title: "Students book lessons", body: "Sign in with a student account to hold a slot." });
        return;
      }
      if (activeHold) {
        toast.push({ kind: "info", title: "You already have a slot on hold", body: "Pay for it or release it to pick another time." });
        panelRef.current?.querySelector<HTMLElement>("button")?.focus();
        return;
      }
      const key = slotKey(slot.start);
      setHolding(key);
      try {
        const lessonMinutes = minutes ?? Math.round((Date.parse(slot.end) - Date.parse(slot.start)) / 60_000);
        const h = await api.holds.create(
          { tutor_id: tutorId, start: slot.start, minutes: lessonMinutes, ...(trialMode ? { trial: true } : {}) },
          uuid(),
        );
        setHold(h);
        setTrialMode(false);
        requestAnimationFrame(() => panelRef.current?.scrollIntoView({ behavior: "smooth", block: "nearest" }));
      } catch (err) {
        toast.push({
          kind: "error",
          title:
            err instanceof ApiError && err.code === "slot_unavailable"
              ? "That time was just taken"
              : err instanceof ApiError && err.code === "trial_used"
                ? "Trial already used"
                : "Couldn't hold that time",
          body: errorMessage(err),
        });
      } finally {
        setHolding(null);
      }
    },
    [user, activeHold, minutes, tutorId, toast, router, trialMode],
  );

  if (loadError) {
    const notFound = loadError instanceof ApiError && loadError.status === 404;
    return (
      <EmptyState
        icon={notFound ? "compass" : "warning"}
        title={notFound ? "We couldn't find that tutor" : "Couldn't load this tutor"}
        action={
          <Link href="/" className={buttonClass("primary")}>
            Browse tutors
          </Link>
        }
      >
        {notFound ? "The link may be old, or the tutor is no longer listed." : loadError.message}
      </EmptyState>
    );
  }

  if (!tutor) return <TutorPageSkeleton />;

  const name = tutor.name ?? "Tutor";
  return (
    <div className="space-y-6">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/" className="hover:text-indigo-700">
          Tutors
        </Link>{" "}
        <span aria-hidden="true">/</span> <span className="text-slate-700">{name}</span>
      </nav>

      <Card>
        <div className="flex flex-col gap-5 sm:flex-row sm:items-start">
          <Avatar name={name} size="lg" src={tutor.has_avatar ? api.tutors.avatarUrl(tutor.id) : null} />
          <div className="min-w-0 flex-1">
            <div className="flex flex-wrap items-start justify-between gap-3">
              <div>
                <h1 className="text-2xl font-bold tracking-tight text-slate-900" data-testid="tutor-name">
                  {name}
                </h1>
                <p className="mt-1 text-slate-600">{tutor.headline}</p>
              </div>
              <div className="sm:text-right">
                <p className="text-2xl font-bold text-slate-900">{fmtMoney(tutor.hourly_rate_cents, tutor.currency)}</p>
                <p className="text-sm text-slate-500">per hour</p>
                {(user === null || user?.role === "student") && (
                  <Link
                    href={user ? messageHref(tutor.id, name) : `/login?next=${encodeURIComponent(messageHref(tutor.id, name))}`}
                    className={buttonClass("secondary", "sm", "mt-2")}
                    data-testid="message-tutor"
                  >
                    Message tutor
                  </Link>
                )}
              </div>
            </div>
            <div className="mt-3 flex flex-wrap items-center gap-3">
              <Stars rating={ratingOf(tutor)} count={tutor.rating_count} />
              <TrialBadge trial={tutor.trial} currency={tutor.currency} />
              {(tutor.subjects ?? []).map((s) => (
                <Badge key={s} color="indigo">
                  {subjectLabel(s)}
                </Badge>
              ))}
            </div>
            {tutor.bio && <p className="mt-4 whitespace-pre-line text-sm leading-relaxed text-slate-700">{tutor.bio}</p>}
          </div>
        </div>
      </Card>

      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_320px]">
        <Card>
          <div className="mb-4 flex flex-wrap items-center justify-between gap-3">
            <h2 className="text-lg font-semibold text-slate-900">{trialMode ? "Book your trial lesson" : "Book a lesson"}</h2>
            {tutor.trial && user?.role !== "tutor" && (
              <button
                type="button"
                data-testid="book-trial"
                aria-pressed={trialMode}
                onClick={() => {
                  const next = !trialMode;
                  setTrialMode(next);
                  setMinutes(next && tutor.trial ? tutor.trial.minutes : lengths[0]);
                }}
                className={cx(
                  "rounded-xl px-3 py-1.5 text-sm font-medium ring-1",
                  trialMode ? "bg-emerald-600 text-white ring-emerald-600" : "text-emerald-700 ring-emerald-200 hover:bg-emerald-50",
                )}
              >
                {trialMode ? "Back to regular lessons" : `Book a trial (${trialLabel(tutor.trial, tutor.currency)})`}
              </button>
            )}
            {lengths.length > 1 && !trialMode && (
              <div role="radiogroup" aria-label="Lesson length" className="flex rounded-xl bg-slate-100 p-1">
                {lengths.map((m) => (
                  <button
                    key={m}
                    type="button"
                    role="radio"
                    aria-checked={minutes === m}
                    onClick={() => setMinutes(m)}
                    data-testid="lesson-length"
                    className={cx(
                      "rounded-lg px-3 py-1.5 text-sm font-medium",
                      minutes === m ? "bg-white text-indigo-700 shadow-sm" : "text-slate-600 hover:text-slate-900",
                    )}
                  >
                    {m} min
                  </button>
                ))}
              </div>
            )}
          </div>
          {trialMode && tutor.trial && (
            <p className="mb-3 rounded-xl bg-emerald-50 p-3 text-sm text-emerald-800" data-testid="trial-mode">
              Pick a time for your {tutor.trial.minutes}-minute trial lesson (
              {tutor.trial.price_cents === 0 ? "free" : fmtMoney(tutor.trial.price_cents, tutor.currency)}). A trial is for
              your first lesson with {name}, once.
            </p>
          )}
          <WeekView
            tutorId={tutorId}
            minutes={minutes}
            liveExact={liveExact}
            maxAdvanceDays={tutor.max_advance_days}
            tutorTimeZone={tutor.timezone}
            onPick={onPick}
            mineStart={activeHold ? slotKey(hold.start) : null}
            busyStart={holding}
            lineFor={lines.enabled ? lines.lineFor : undefined}
            onJoinLine={lines.enabled ? (slot) => void lines.join(slot) : undefined}
            joiningStart={lines.joining}
          />
        </Card>

        <div ref={panelRef} className="lg:sticky lg:top-24 lg:self-start">
          {hold ? (
            <HoldPanel
              key={hold.id}
              hold={hold}
              tutorName={name}
              onUpdate={(b) => setHold((h) => (h && h.id === b.id ? { ...h, ...b } : h))}
              onReplace={(b) => setHold(b)}
              onClose={() => setHold(null)}
            />
          ) : (
            <HowItWorks />
          )}
        </div>
      </div>

      <TutorPackages tutor={tutor} user={user} />

      <TutorReviews tutorId={tutorId} count={tutor.rating_count} canRemove={user?.role === "admin"} />
    </div>
  );
}

function HowItWorks() {
  const steps = [
    ["Pick a time", "Open times update live — if someone else grabs one, you'll see it at once."],
    ["We hold it for you", "The slot is yours for a few minutes while you check out."],
    ["Pay and you're in", "You'll get a reminder and a join link before the lesson."],
  ];
  return (
    <Card className="bg-gradient-to-br from-white to-indigo-50/60">
      <h2 className="text-base font-semibold text-slate-900">How booking works</h2>
      <ol className="mt-4 space-y-4">
        {steps.map(([title, body], i) => (
          <li key={title} className="flex gap-3">
            <span aria-hidden="true" className="flex h-7 w-7 shrink-0 items-center justify-center rounded-full bg-indigo-600 text-sm font-bold text-white">
              {i + 1}
            </span>
            <div>
              <p className="text-sm font-semibold text-slate-900">{title}</p>
              <p className="text-sm text-slate-600">{body}</p>
            </div>
          </li>
        ))}
      </ol>
    </Card>
  );
}

function TutorPageSkeleton() {
  return (
    <div className="space-y-6" aria-busy="true" aria-label="Loading tutor">
      <Skeleton className="h-4 w-40" />
      <div className="rounded-2xl bg-white p-6 ring-1 ring-slate-200/80">
        <div className="flex gap-5">
          <Skeleton className="h-20 w-20 rounded-full" />
          <div className="flex-1 space-y-3">
            <Skeleton className="h-6 w-1/3" />
            <Skeleton className="h-4 w-2/3" />
            <Skeleton className="h-4 w-1/2" />
          </div>
        </div>
      </div>
      <Skeleton className="h-72 w-full rounded-2xl" />
    </div>
  );
}
