import assert from "node:assert/strict";
import { test } from "node:test";
import { describeNotification } from "../../lib/notifications";
import type { Notification } from "../../lib/types";

function n(kind: Notification["kind"], data: Record<string, unknown>): Notification {
  return { id: "n1", kind, data, created_at: "2027-03-15T13:00:00Z", read_at: null };
}

test("a new hold tells the tutor who and when, and links the booking", () => {
  const text = describeNotification(
    n("booking.new", { booking: { id: "b1", status: "held", start: "2027-03-15T13:00:00Z", student_name: "Ada" } }),
    "tutor",
  );
  assert.equal(text.title, "New hold on your calendar");
  assert.match(text.body, /^Ada · /);
  assert.equal(text.href, "/bookings/b1");
});

test("status changes are named; unknown ones fall back", () => {
  const confirmed = describeNotification(n("booking.updated", { booking: { id: "b2", status: "confirmed" } }), "student");
  assert.equal(confirmed.title, "Booking confirmed");
  const odd = describeNotification(n("booking.updated", { booking: { id: "b2", status: "payment_refused" } }), "student");
  assert.equal(odd.title, "Booking updated");
});

test("hold.expiring and session.starting read their own fields", () => {
  assert.equal(
    describeNotification(n("hold.expiring", { booking_id: "b3", expires_at: "2027-03-15T13:05:00Z" }), "student").href,
    "/bookings/b3",
  );
  assert.equal(
    describeNotification(n("session.starting", { booking_id: "b3", minutes_before: 10, starts_at: "2027-03-15T13:00:00Z" }), "tutor")
      .title,
    "Your lesson starts in 10 minutes",
  );
});

test("messages are cut short and payouts link the payouts page", () => {
  const long = "x".repeat(200);
  const msg = describeNotification(n("message.new", { message: { body: long, conversation_id: "c1" } }), "tutor");
  assert.equal(msg.body.length, 80);
  assert.equal(msg.href, "/messages?c=c1");
  assert.equal(describeNotification(n("payout.updated", { status: "active", payout: { status: "paid" } }), "tutor").title,
    "Payout sent to your bank");
});
