/**
 * What a stored notification says, in words, and where it leads. `data` is the live event's
 * payload exactly as it was sent (docs/live.md), so each kind reads the fields of its event.
 */
import type { Notification, Role } from "./types";
import { fmtDateTime, fmtTime } from "./time";

export interface NotificationText {
  title: string;
  body: string;
  href: string | null;
}

type Data = Record<string, unknown>;

function obj(v: unknown): Data {
  return v && typeof v === "object" ? (v as Data) : {};
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

const STATUS_TITLES: Record<string, string> = {
  held: "Slot held",
  confirmed: "Booking confirmed",
  cancelled: "Booking cancelled",
  expired: "Hold expired",
  released: "Hold released",
  completed: "Lesson completed",
};

export function describeNotification(n: Notification, role: Role | undefined): NotificationText {
  const data = obj(n.data);
  const booking = obj(data.booking);
  const bookingId = str(booking.id) ?? str(data.booking_id);
  const bookingHref = bookingId ? `/bookings/${bookingId}` : null;
  const when = str(booking.start);
  const other = role === "tutor" ? str(booking.student_name) : str(booking.tutor_name);
  const about = [other, when ? fmtDateTime(when) : null].filter(Boolean).join(" · ");
  switch (n.kind) {
    case "booking.new":
      return {
        title: booking.status === "held" ? "New hold on your calendar" : "New booking",
        body: about,
        href: bookingHref,
      };
    case "booking.updated":
      return { title: STATUS_TITLES[String(booking.status)] ?? "Booking updated", body: about, href: bookingHref };
    case "hold.expiring": {
      const at = str(data.expires_at);
      return { title: "Your hold is about to expire", body: at ? `Pay before ${fmtTime(at)} to keep the slot.` : "", href: bookingHref };
    }
    case "session.starting": {
      const minutes = Number(data.minutes_before ?? 0);
      const starts = str(data.starts_at);
      return {
        title: minutes <= 1 ? "Your lesson starts in a minute" : `Your lesson starts in ${minutes} minutes`,
        body: starts ? fmtDateTime(starts) : "",
        href: bookingHref,
      };
    }
    case "waitlist.offer":
      return { title: "The slot you waited for is yours", body: about ? `${about} · pay to keep it` : "Pay to keep it", href: bookingHref };
    case "message.new": {
      const message = obj(data.message);
      const body = str(message.body) ?? "";
      const from = str(message.from_name) ?? str(obj(message.from_user).name);
      return {
        title: from ? `New message from ${from}` : "New message",
        body: body.length > 80 ? `${body.slice(0, 79)}…` : body,
        href: str(message.conversation_id) ? `/messages?c=${str(message.conversation_id)}` : "/messages",
      };
    }
    case "review.new": {
      const review = obj(data.review);
      const rating = Number(review.rating ?? 0);
      return {
        title: `New ${rating}★ review`,
        body: str(review.comment) ?? "",
        href: role === "tutor" ? "/tutor/dashboard" : null,
      };
    }
    case "payout.updated": {
      const payout = obj(data.payout);
      if (payout.status === "paid") return { title: "Payout sent to your bank", body: "", href: "/payouts" };
      if (payout.status === "failed") return { title: "A payout bounced", body: "Check your payout details.", href: "/payouts" };
      return { title: "Payout account updated", body: `Status: ${String(data.status ?? "")}`, href: "/payouts" };
    }
    default:
      return { title: "Notification", body: "", href: null };
  }
}
