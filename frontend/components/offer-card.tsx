"use client";

/**
 * The card of something offered to the user for a short time, with the time left ticking down:
 * a waitlist slot held for a student (`waitlist.tsx`), an instant lesson request to a tutor
 * (`instant.tsx`). The cards stack at the bottom left of every page (`OfferStack`).
 */
import type { ReactNode } from "react";
import { fmtCountdown } from "@/lib/time";
import { cx } from "./ui";

// Whole class names, so that Tailwind finds them.
const RING = { indigo: "ring-indigo-300", emerald: "ring-emerald-300" } as const;

/** The fixed stack the offer cards of one kind appear in. */
export function OfferStack({ label, children }: { label: string; children: ReactNode }) {
  return (
    <section aria-label={label} className="fixed bottom-0 left-0 z-50 flex w-full max-w-sm flex-col gap-2 p-4">
      {children}
    </section>
  );
}

export interface OfferCardProps {
  /** The card's `data-testid`; its countdown's is `${testId}-countdown`. */
  testId: string;
  /** More `data-*` attributes for the card (the id of what is offered). */
  attributes?: Record<`data-${string}`, string>;
  tone: keyof typeof RING;
  title: string;
  detail: ReactNode;
  /** The primary action (Pay now, Accept). */
  action: ReactNode;
  /** When the offer ends (ISO 8601), and the clock to count down with (ms since the epoch). */
  expiresAt: string;
  now: number;
  /** What the time left is for: "left to pay", "left". */
  timeLeftLabel: string;
  /** Putting the offer aside (Dismiss, Decline). */
  dismiss: { label: string; onClick: () => void; testId?: string };
}

/** One offer: title, what it is, the action, the time left, and a way to put it aside. */
export function OfferCard({ testId, attributes, tone, title, detail, action, expiresAt, now, timeLeftLabel, dismiss }: OfferCardProps) {
  return (
    <div role="alert" data-testid={testId} {...attributes} className={cx("toast-in rounded-2xl bg-white p-4 shadow-lg ring-2", RING[tone])}>
      <p className="text-sm font-semibold text-slate-900">{title}</p>
      <p className="mt-0.5 text-sm text-slate-700">{detail}</p>
      <div className="mt-3 flex items-center gap-3">
        {action}
        <span className="text-sm text-slate-500">
          <span className="tabular-nums" data-testid={`${testId}-countdown`}>
            {fmtCountdown(Date.parse(expiresAt) - now)}
          </span>{" "}
          {timeLeftLabel}
        </span>
        <button
          type="button"
          className="ml-auto text-sm text-slate-500 hover:text-slate-700"
          data-testid={dismiss.testId}
          onClick={dismiss.onClick}
        >
          {dismiss.label}
        </button>
      </div>
    </div>
  );
}
