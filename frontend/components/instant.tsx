"use client";

/**
 * Instant lessons (docs/instant.md): the tutor's "Available now" switch, the incoming requests
 * a tutor can accept (cards with a countdown, bottom left), and the student's "Instant lesson"
 * form that follows its request live (waiting → accepted | expired).
 */
import Link from "next/link";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { useNow } from "@/lib/hooks";
import { fmtCountdown, fmtMoney, fmtTime } from "@/lib/time";
import type { Booking, InstantOffer, InstantRequest, InstantState, Subject } from "@/lib/types";
import { subjectLabel } from "@/lib/types";
import { useLive, useLiveEvent, useOnReconnect } from "./live";
import { OfferCard, OfferStack } from "./offer-card";
import { useSession } from "./session";
import { useToast } from "./toast";
import { Alert, Button, Card, cx, Select } from "./ui";

const LENGTHS = [30, 45, 60, 90];

// ---- tutor: the switch -------------------------------------------------------------------

/** "Available now": while on and this page (or any other) is connected, requests reach you. */
export function AvailableNowToggle() {
  const { state: liveState } = useLive();
  const [state, setState] = useState<InstantState | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      setState(await api.instant.state(signal));
    } catch (err) {
      if (!signal?.aborted) setError(errorMessage(err));
    }
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    return () => ac.abort();
  }, [load]);
  useOnReconnect(() => void load());
  // Presence follows the socket: re-read once it is up.
  useEffect(() => {
    if (liveState === "live") void load();
  }, [liveState, load]);

  const flip = async () => {
    if (!state) return;
    setBusy(true);
    setError(null);
    try {
      setState(await api.instant.setAvailable(!state.available));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const on = state?.available ?? false;
  return (
    <Card className="mb-6" data-testid="instant-availability">
      <div className="flex flex-wrap items-center gap-4">
        <div className="min-w-0 flex-1">
          <h2 className="text-base font-semibold text-slate-900">Available now</h2>
          <p className="text-sm text-slate-600">
            Students asking for a lesson right now in your subjects reach you here while this is on and you are online.
          </p>
          {state && (
            <p className="mt-1 text-sm" data-testid="instant-online" data-online={state.online ? "true" : "false"}>
              <span
                aria-hidden="true"
                className={cx("mr-1.5 inline-block h-2.5 w-2.5 rounded-full", state.online ? "bg-emerald-500" : "bg-slate-300")}
              />
              {state.online ? "You are online for instant lessons." : on ? "Connecting…" : "You are offline for instant lessons."}
            </p>
          )}
        </div>
        <button
          type="button"
          role="switch"
          aria-checked={on}
          aria-label="Available now"
          data-testid="instant-toggle"
          disabled={!state || busy}
          onClick={() => void flip()}
          className={cx(
            "relative inline-flex h-8 w-14 shrink-0 items-center rounded-full transition-colors disabled:opacity-60",
            on ? "bg-emerald-500" : "bg-slate-300",
          )}
        >
          <span className={cx("inline-block h-6 w-6 rounded-full bg-white shadow transition-transform", on ? "translate-x-7" : "translate-x-1")} />
        </button>
      </div>
      {error && (
        <div className="mt-3">
          <Alert title="Couldn't change your availability" testId="instant-toggle-error">{error}</Alert>
        </div>
      )}
    </Card>
  );
}

// ---- tutor: incoming requests ------------------------------------------------------------

/** The requests offered to a signed-in tutor, each with its countdown and an Accept button. */
export function InstantOffers() {
  const { user } = useSession();
  const tutor = user?.role === "tutor";
  const toast = useToast();
  const now = useNow(500);
  const [offers, setOffers] = useState<InstantOffer[]>([]);
  const [accepting, setAccepting] = useState<string | null>(null);

  const load = useCallback(async () => {
    if (!tutor) return;
    try {
      setOffers((await api.instant.state()).offers ?? []);
    } catch {
      // A tutor without a profile has no offers; nothing to show.
    }
  }, [tutor]);

  useEffect(() => {
    if (tutor) void load();
    else setOffers([]);
  }, [tutor, load]);
  useOnReconnect(() => void load());

  const drop = (id: string | undefined) => setOffers((list) => list.filter((o) => o.id !== id));
  useLiveEvent("instant.request", ({ request }) => {
    if (!tutor) return;
    setOffers((list) => [...list.filter((o) => o.id !== request.id), request]);
  });
  useLiveEvent("instant.taken", (e) => drop(e.request_id));
  useLiveEvent("instant.expired", (e) => drop(e.request_id));
  useLiveEvent("instant.cancelled", (e) => drop(e.request_id));
  useLiveEvent("instant.declined", (e) => drop(e.request_id));

  const decline = async (offer: InstantOffer) => {
    drop(offer.id);
    try {
      await api.instant.decline(offer.id);
    } catch {
      // Already taken, expired or withdrawn: it is gone either way.
    }
  };

  const accept = async (offer: InstantOffer) => {
    setAccepting(offer.id);
    try {
      const { booking } = await api.instant.accept(offer.id);
      drop(offer.id);
      toast.push({
        kind: "success",
        title: "Instant lesson booked",
        body: `${offer.student_name ?? "A student"} · ${offer.minutes} min from ${fmtTime(booking.start)}`,
        action: { label: "Open", href: `/bookings/${encodeURIComponent(booking.id)}` },
        dedupeKey: `instant-accepted:${offer.id}`,
      });
    } catch (err) {
      const code = err instanceof ApiError ? err.code : null;
      if (code && ["request_taken", "request_expired", "request_cancelled", "not_found"].includes(code)) drop(offer.id);
      toast.push({ kind: "warning", title: "Couldn't accept", body: errorMessage(err) });
    } finally {
      setAccepting(null);
    }
  };

  const t = now || Date.now();
  const open = offers.filter((o) => Date.parse(o.expires_at) > t);
  if (!tutor || open.length === 0) return null;
  return (
    <OfferStack label="Instant lesson requests">
      {open.map((o) => (
        <OfferCard
          key={o.id}
          testId="instant-offer"
          attributes={{ "data-request-id": o.id }}
          tone="emerald"
          title="Instant lesson request"
          detail={`${o.student_name ?? "A student"} wants ${o.minutes} min of ${subjectLabel(o.subject)} now · ${fmtMoney(o.price_cents, o.currency)}`}
          action={
            <Button variant="success" size="sm" data-testid="instant-accept" loading={accepting === o.id} onClick={() => void accept(o)}>
              Accept
            </Button>
          }
          expiresAt={o.expires_at}
          now={t}
          timeLeftLabel="left"
          dismiss={{ label: "Decline", testId: "instant-decline", onClick: () => void decline(o) }}
        />
      ))}
    </OfferStack>
  );
}

// ---- student: the form -------------------------------------------------------------------

/** "Instant lesson": ask the tutors online now; follows the request until it is accepted or ends. */
export function InstantLessonPanel() {
  const { user } = useSession();
  const now = useNow(500);
  const [subjects, setSubjects] = useState<Subject[] | null>(null);
  const [subject, setSubject] = useState("");
  const [minutes, setMinutes] = useState(60);
  const [request, setRequest] = useState<InstantRequest | null>(null);
  const [booking, setBooking] = useState<Booking | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const student = user?.role === "student";

  useEffect(() => {
    if (!student) return;
    const ac = new AbortController();
    api.tutors
      .subjects(ac.signal)
      .then((list) => {
        setSubjects(list.items);
        setSubject((s) => s || list.items[0]?.slug || "");
      })
      .catch(() => setSubjects([]));
    return () => ac.abort();
  }, [student]);

  const mine = (r?: InstantRequest) => Boolean(r && request && r.id === request.id);
  useLiveEvent("instant.accepted", (e) => {
    if (!mine(e.request)) return;
    setRequest(e.request);
    setBooking(e.booking);
  });
  useLiveEvent("instant.expired", (e) => {
    if (mine(e.request)) setRequest(e.request ?? null);
  });
  useLiveEvent("instant.cancelled", (e) => {
    if (mine(e.request)) setRequest(e.request ?? null);
  });
  useLiveEvent("instant.declined", (e) => {
    if (mine(e.request)) setRequest(e.request ?? null);
  });
  // Missed events while disconnected: read the request again.
  useOnReconnect(() => {
    if (!request) return;
    void api.instant.get(request.id).then((r) => {
      setRequest(r);
      if (r.booking) setBooking(r.booking);
    });
  });

  if (!student) return null;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setBooking(null);
    try {
      setRequest(await api.instant.ask({ subject, minutes }));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const cancel = async () => {
    if (!request) return;
    try {
      setRequest(await api.instant.cancel(request.id));
    } catch (err) {
      setError(errorMessage(err));
    }
  };

  const t = now || Date.now();
  const status = request && request.status === "pending" && Date.parse(request.expires_at) <= t ? "expired" : request?.status;
  return (
    <Card className="mb-6" data-testid="instant-panel" data-status={status ?? "idle"}>
      <h2 className="text-base font-semibold text-slate-900">Instant lesson</h2>
      <p className="text-sm text-slate-600">Need help right now? We ask every tutor who is online; the first to accept starts with you.</p>
      {(!request || status === "expired" || status === "cancelled" || status === "declined") && (
        <form className="mt-4 flex flex-wrap items-end gap-3" onSubmit={(e) => void submit(e)} data-testid="instant-form">
          <Select label="Subject" value={subject} onChange={(e) => setSubject(e.target.value)} data-testid="instant-subject" className="min-w-44">
            {(subjects ?? []).map((s) => (
              <option key={s.slug} value={s.slug}>
                {s.name}
              </option>
            ))}
          </Select>
          <Select label="Length" value={String(minutes)} onChange={(e) => setMinutes(Number(e.target.value))} data-testid="instant-minutes">
            {LENGTHS.map((m) => (
              <option key={m} value={m}>
                {m} min
              </option>
            ))}
          </Select>
          <Button type="submit" loading={busy} disabled={!subject} data-testid="instant-ask">
            Find a tutor now
          </Button>
        </form>
      )}
      {status === "expired" && (
        <p className="mt-3 text-sm text-amber-700" data-testid="instant-expired">
          Nobody could take it this time, and nothing was charged. Try again in a moment.
        </p>
      )}
      {status === "declined" && (
        <p className="mt-3 text-sm text-amber-700" data-testid="instant-declined">
          The tutors online right now can&apos;t take it, and nothing was charged. Try again in a moment.
        </p>
      )}
      {status === "cancelled" && <p className="mt-3 text-sm text-slate-600">Request withdrawn.</p>}
      {request && status === "pending" && (
        <div className="mt-4 flex flex-wrap items-center gap-3" data-testid="instant-waiting" aria-live="polite">
          <span className="inline-block h-3 w-3 animate-pulse rounded-full bg-indigo-500" aria-hidden="true" />
          <p className="text-sm text-slate-700">
            Asking {request.offered_to} tutor{request.offered_to === 1 ? "" : "s"} for {request.minutes} min of{" "}
            {subjectLabel(request.subject)}…{" "}
            <span className="tabular-nums">{fmtCountdown(Date.parse(request.expires_at) - t)}</span> left
          </p>
          <Button variant="secondary" size="sm" onClick={() => void cancel()} data-testid="instant-cancel">
            Cancel
          </Button>
        </div>
      )}
      {status === "accepted" && (
        <div className="mt-4" data-testid="instant-accepted" aria-live="polite">
          <Alert kind="success" title="A tutor accepted!" testId="instant-accepted-alert">
            {booking ? (
              <>
                {booking.tutor_name ?? "Your tutor"} · {booking.minutes ?? request?.minutes} min from {fmtTime(booking.start)} ·{" "}
                {fmtMoney(booking.price_cents, booking.currency)}.{" "}
                <Link
                  href={`/bookings/${encodeURIComponent(booking.id)}`}
                  className="font-semibold underline"
                  data-testid="instant-booking"
                  data-booking-id={booking.id}
                >
                  {booking.status === "held" ? "Pay to start →" : "Open lesson →"}
                </Link>
              </>
            ) : (
              "Your lesson is booked."
            )}
          </Alert>
        </div>
      )}
      {error && (
        <div className="mt-3">
          <Alert title="Couldn't ask for a lesson" testId="instant-error">{error}</Alert>
        </div>
      )}
    </Card>
  );
}
