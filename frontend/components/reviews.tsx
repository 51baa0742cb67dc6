"use client";

import { useCallback, useEffect, useState } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { fmtDateTime, fmtMoney } from "@/lib/time";
import type { Booking, Review, Trial } from "@/lib/types";
import { useToast } from "./toast";
import { Alert, Badge, Button, Card, cx, Skeleton, TextArea } from "./ui";

/** "Free trial · 30 min" or "Trial £10 · 30 min". */
export function trialLabel(trial: Trial, currency: string): string {
  const price = trial.price_cents === 0 ? "Free trial" : `Trial ${fmtMoney(trial.price_cents, currency)}`;
  return `${price} · ${trial.minutes} min`;
}

/** The trial badge on tutor cards and the tutor page. */
export function TrialBadge({ trial, currency }: { trial: Trial | null | undefined; currency: string }) {
  if (!trial) return null;
  return (
    <span data-testid="trial-badge">
      <Badge color="green">{trialLabel(trial, currency)}</Badge>
    </span>
  );
}

function StarRow({ rating }: { rating: number }) {
  return (
    <span aria-label={`${rating} out of 5 stars`} className="text-amber-400">
      {"★".repeat(rating)}
      <span className="text-slate-300">{"★".repeat(5 - rating)}</span>
    </span>
  );
}

function ReviewBody({ review }: { review: Review }) {
  return (
    <div data-testid="review" data-review-id={review.id}>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <StarRow rating={review.rating} />
        <span className="font-medium text-slate-900">{review.student_name ?? "A student"}</span>
        <span className="text-xs text-slate-500">{fmtDateTime(review.created_at)}</span>
      </div>
      {review.comment && <p className="mt-1 whitespace-pre-line text-sm text-slate-700">{review.comment}</p>}
      {review.reply && (
        <div className="mt-2 rounded-xl bg-slate-50 p-3 text-sm" data-testid="review-reply">
          <p className="text-xs font-semibold text-slate-600">The tutor replied</p>
          <p className="mt-1 whitespace-pre-line text-slate-700">{review.reply.body}</p>
        </div>
      )}
    </div>
  );
}

/** The review card on a completed booking: the student's form, or the review (and the tutor's reply form). */
export function BookingReview({ booking, viewerId }: { booking: Booking; viewerId: string }) {
  const toast = useToast();
  const [review, setReview] = useState<Review | null | undefined>(undefined);
  const [rating, setRating] = useState(0);
  const [comment, setComment] = useState("");
  const [reply, setReply] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const isStudent = viewerId === booking.student_id;
  const isTutor = viewerId === booking.tutor_id;

  useEffect(() => {
    const ac = new AbortController();
    api.reviews
      .forBooking(booking.id, ac.signal)
      .then(setReview)
      .catch((err: unknown) => {
        if (!ac.signal.aborted) setReview(err instanceof ApiError && err.status === 404 ? null : undefined);
      });
    return () => ac.abort();
  }, [booking.id]);

  const submit = useCallback(async () => {
    if (rating < 1) {
      setError("Choose a rating from 1 to 5 stars.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setReview(await api.reviews.create(booking.id, { rating, comment: comment.trim() || null }));
      toast.push({ kind: "success", title: "Thank you for your review" });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }, [booking.id, rating, comment, toast]);

  const sendReply = useCallback(async () => {
    if (!review || !reply.trim()) return;
    setBusy(true);
    setError(null);
    try {
      setReview(await api.reviews.reply(review.id, reply.trim()));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }, [review, reply]);

  if (review === undefined) return <Skeleton className="mt-6 h-24 w-full rounded-2xl" />;
  if (review === null && !isStudent) return null;

  return (
    <Card className="mt-6" data-testid="booking-review" id="review">
      <h2 className="text-base font-semibold text-slate-900">Review</h2>
      {error && (
        <div className="mt-3">
          <Alert kind="error">{error}</Alert>
        </div>
      )}
      {review ? (
        <div className="mt-3 space-y-3">
          <ReviewBody review={review} />
          {isTutor && !review.reply && (
            <div className="space-y-2">
              <TextArea label="Your public reply (one only)" value={reply} maxLength={2000} rows={3}
                onChange={(e) => setReply(e.target.value)} data-testid="reply-body" />
              <Button onClick={() => void sendReply()} loading={busy} disabled={!reply.trim()} data-testid="reply-submit">
                Reply
              </Button>
            </div>
          )}
        </div>
      ) : (
        <div className="mt-3 space-y-3">
          <p className="text-sm text-slate-600">How was the lesson? Your review helps your tutor and other students.</p>
          <div role="radiogroup" aria-label="Rating" className="flex gap-1">
            {[1, 2, 3, 4, 5].map((n) => (
              <button key={n} type="button" role="radio" aria-checked={rating === n} aria-label={`${n} star${n > 1 ? "s" : ""}`}
                onClick={() => setRating(n)} data-testid="rating-star"
                className={cx("text-2xl leading-none", n <= rating ? "text-amber-400" : "text-slate-300 hover:text-amber-300")}>
                ★
              </button>
            ))}
          </div>
          <TextArea label="Comment (optional)" value={comment} maxLength={2000} rows={3}
            onChange={(e) => setComment(e.target.value)} data-testid="review-comment" />
          <Button onClick={() => void submit()} loading={busy} data-testid="review-submit">
            Submit review
          </Button>
        </div>
      )}
    </Card>
  );
}

/** An admin takes a review down, saying why (kept on record); the rating is recomputed without it. */
function RemoveReview({ review, onRemoved }: { review: Review; onRemoved: () => void }) {
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!open) {
    return (
      <Button size="sm" variant="ghost" className="mt-2" onClick={() => setOpen(true)} data-testid="review-remove">
        Remove review
      </Button>
    );
  }
  const remove = async () => {
    if (!reason.trim()) {
      setError("Say why the review is removed: the reason is kept on record.");
      return;
    }
    setBusy(true);
    try {
      await api.admin.removeReview(review.id, reason.trim());
      toast.push({ kind: "success", title: "Review removed", body: reason.trim() });
      onRemoved();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="mt-2 space-y-2">
      <TextArea label="Why remove this review?" value={reason} maxLength={500} rows={2}
        onChange={(e) => setReason(e.target.value)} data-testid="review-remove-reason" />
      {error && <Alert>{error}</Alert>}
      <div className="flex gap-2">
        <Button size="sm" variant="danger" loading={busy} onClick={() => void remove()} data-testid="review-remove-confirm">
          Remove
        </Button>
        <Button size="sm" variant="ghost" onClick={() => setOpen(false)}>
          Keep it
        </Button>
      </div>
    </div>
  );
}

/** The tutor page's reviews, newest first, with "Show more"; admins may remove one. */
export function TutorReviews({ tutorId, count, canRemove = false }: { tutorId: string; count: number; canRemove?: boolean }) {
  const [items, setItems] = useState<Review[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const load = useCallback(
    async (after: string | null, signal?: AbortSignal) => {
      setLoading(true);
      try {
        const page = await api.tutors.reviews(tutorId, after, signal);
        setItems((prev) => (after && prev ? [...prev, ...page.items] : page.items));
        setCursor(page.next_cursor ?? null);
      } catch (err) {
        if (!signal?.aborted) setError(errorMessage(err));
      } finally {
        setLoading(false);
      }
    },
    [tutorId],
  );

  useEffect(() => {
    const ac = new AbortController();
    void load(null, ac.signal);
    return () => ac.abort();
  }, [load]);

  return (
    <Card data-testid="tutor-reviews">
      <h2 className="text-lg font-semibold text-slate-900">Reviews{count ? ` (${count})` : ""}</h2>
      {error ? (
        <div className="mt-3">
          <Alert kind="warning">{error}</Alert>
        </div>
      ) : items === null ? (
        <Skeleton className="mt-3 h-20 w-full" />
      ) : items.length === 0 ? (
        <p className="mt-3 text-sm text-slate-600">No reviews yet.</p>
      ) : (
        <ul className="mt-3 divide-y divide-slate-100">
          {items.map((r) => (
            <li key={r.id} className="py-3">
              <ReviewBody review={r} />
              {canRemove && (
                <RemoveReview review={r} onRemoved={() => setItems((prev) => (prev ?? []).filter((x) => x.id !== r.id))} />
              )}
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <Button variant="secondary" size="sm" className="mt-3" loading={loading} onClick={() => void load(cursor)}>
          Show more reviews
        </Button>
      )}
    </Card>
  );
}
