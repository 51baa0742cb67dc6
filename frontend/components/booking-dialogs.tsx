"use client";

import { useEffect, useState } from "react";
import { api, errorMessage } from "@/lib/api";
import { slotKey } from "@/lib/slots";
import { fmtDate, fmtDateTime, fmtMoney, fmtRange, fmtTime, minutesBetween } from "@/lib/time";
import type { Booking, CancelQuote, Slot } from "@/lib/types";
import { useToast } from "./toast";
import { Alert, Button, Modal, Skeleton, TextArea } from "./ui";
import { WeekView } from "./week-view";

export const CANCEL_REASON_MAX = 500;

/** The cancellation quote of an open dialog's booking (`GET /bookings/{id}/cancellation`). */
function useCancelQuote(booking: Booking | null): { quote: CancelQuote | null; error: string | null } {
  const [quote, setQuote] = useState<CancelQuote | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = booking?.id;
  const start = booking?.start;
  useEffect(() => {
    setQuote(null);
    setError(null);
    if (!id) return;
    const ac = new AbortController();
    api.bookings
      .cancellation(id, ac.signal)
      .then(setQuote)
      .catch((err: unknown) => {
        if (!ac.signal.aborted) setError(errorMessage(err));
      });
    return () => ac.abort();
  }, [id, start]);
  return { quote, error };
}

/** What cancelling now gives back, in words (shown before the person confirms). */
export function RefundNote({ booking, quote }: { booking: Booking; quote: CancelQuote }) {
  const price = fmtMoney(booking.price_cents, booking.currency);
  let text: string;
  let kind: "success" | "warning" | "info" = "info";
  if (!quote.cancellable) {
    text = "This booking can no longer be cancelled.";
    kind = "warning";
  } else if (quote.action === "release") {
    text = "This lets go of your hold. You have not been charged, so there is nothing to refund.";
  } else if (booking.price_cents === 0) {
    text = "This lesson is free: nothing to refund.";
  } else if (quote.full_refund_until === null || quote.full_refund_until === undefined) {
    text = `The student gets a full refund of ${price}.`;
    kind = "success";
  } else if (quote.refund_cents >= booking.price_cents) {
    text = `You get a full refund of ${fmtMoney(quote.refund_cents, booking.currency)}: you are cancelling before ${fmtDateTime(quote.full_refund_until)} (${quote.full_refund_hours} hours before the lesson).`;
    kind = "success";
  } else {
    text = `No refund: full refunds end ${quote.full_refund_hours} hours before the lesson (${fmtDateTime(quote.full_refund_until)}). You will not get the ${price} back.`;
    kind = "warning";
  }
  return (
    <Alert kind={kind} title="Refund" testId="refund-preview">
      <span data-refund-cents={quote.refund_cents}>{text}</span>
    </Alert>
  );
}

export function CancelDialog({ booking, onClose, onDone }: { booking: Booking | null; onClose: () => void; onDone: (b: Booking) => void }) {
  const toast = useToast();
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { quote, error: quoteError } = useCancelQuote(booking);

  useEffect(() => {
    setReason("");
    setError(null);
  }, [booking?.id]);

  const tooLong = reason.trim().length > CANCEL_REASON_MAX;

  async function confirm() {
    if (!booking || tooLong) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.bookings.cancel(booking.id, reason.trim() || undefined);
      const updated = r && "id" in r ? r : await api.bookings.get(booking.id);
      toast.push({
        kind: "info",
        title: updated.status === "cancelled" ? "Booking cancelled" : "Hold released",
        body:
          typeof updated.refund_cents === "number" && updated.refund_cents > 0
            ? `A refund of ${fmtMoney(updated.refund_cents, updated.currency)} is on its way.`
            : undefined,
      });
      onDone(updated);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal open={booking !== null} onClose={onClose} title="Cancel this lesson?" testId="cancel-dialog">
      {booking && (
        <div className="space-y-4">
          <p className="text-sm text-slate-600">
            {fmtDate(booking.start)} at {fmtTime(booking.start)}.
          </p>
          {quote ? <RefundNote booking={booking} quote={quote} /> : quoteError ? <Alert kind="warning">{quoteError}</Alert> : <Skeleton className="h-16 w-full" />}
          <TextArea
            label="Reason (optional)"
            rows={3}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            error={tooLong ? `Please keep the reason under ${CANCEL_REASON_MAX} characters.` : undefined}
            hint={`${reason.trim().length}/${CANCEL_REASON_MAX}`}
          />
          {error && <Alert>{error}</Alert>}
          <div className="flex justify-end gap-2">
            <Button variant="secondary" onClick={onClose}>
              Keep lesson
            </Button>
            <Button variant="danger" onClick={confirm} loading={busy} disabled={!quote?.cancellable || tooLong} data-testid="confirm-cancel">
              {quote?.action === "release" ? "Release hold" : "Cancel lesson"}
            </Button>
          </div>
        </div>
      )}
    </Modal>
  );
}

/** The refund terms after moving to `start`: the deadline never moves later. */
function rescheduleNote(quote: CancelQuote, start: string, now: number): string | null {
  if (quote.full_refund_until === null || quote.full_refund_until === undefined) return null;
  const moved = Date.parse(start) - quote.full_refund_hours * 3_600_000;
  const deadline = Math.min(Date.parse(quote.full_refund_until), moved);
  if (deadline < now) {
    return "After this move, cancelling will no longer be refunded (moving never extends the full-refund window).";
  }
  return `You can still cancel with a full refund until ${fmtDateTime(new Date(deadline))}.`;
}

export function RescheduleDialog({ booking, onClose, onDone }: { booking: Booking | null; onClose: () => void; onDone: (b: Booking) => void }) {
  const toast = useToast();
  const [picked, setPicked] = useState<Slot | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { quote } = useCancelQuote(booking);

  useEffect(() => {
    setPicked(null);
    setError(null);
  }, [booking?.id]);

  async function confirm() {
    if (!booking || !picked) return;
    setBusy(true);
    setError(null);
    try {
      const r = await api.bookings.reschedule(booking.id, picked.start);
      const updated = r && "id" in r ? r : await api.bookings.get(booking.id);
      toast.push({ kind: "success", title: "Lesson moved", body: `${fmtDate(updated.start)} at ${fmtTime(updated.start)}` });
      onDone(updated);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  const minutes = booking ? (booking.minutes ?? minutesBetween(booking.start, booking.end)) : undefined;
  const note = picked && quote ? rescheduleNote(quote, picked.start, Date.now()) : null;
  return (
    <Modal open={booking !== null} onClose={onClose} title="Pick a new time" testId="reschedule-dialog" wide>
      {booking && (
        <div className="space-y-4">
          <p className="text-sm text-slate-600">
            Currently {fmtDate(booking.start)} at {fmtTime(booking.start)}. Choose another {minutes}-minute slot; your booking moves in
            one step, so you never lose your place.
          </p>
          <WeekView
            tutorId={booking.tutor_id}
            minutes={minutes}
            liveExact={false}
            onPick={setPicked}
            selectedStart={picked ? slotKey(picked.start) : null}
            pickHint="Open times are shown; held ones may free up."
          />
          {note && (
            <Alert kind="info" title="Refund" testId="reschedule-refund-preview">
              {note}
            </Alert>
          )}
          {error && <Alert>{error}</Alert>}
          <div className="flex flex-wrap items-center justify-end gap-2">
            {picked && (
              <span className="mr-auto text-sm text-slate-700">
                New time: <strong>{fmtRange(picked.start, picked.end)}</strong>
              </span>
            )}
            <Button variant="secondary" onClick={onClose}>
              Keep current time
            </Button>
            <Button onClick={confirm} disabled={!picked} loading={busy} data-testid="confirm-reschedule">
              Move lesson
            </Button>
          </div>
        </div>
      )}
    </Modal>
  );
}
