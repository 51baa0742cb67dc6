import assert from "node:assert/strict";
import { test } from "node:test";
import { applyChanges, effectiveStatus, slotKey, sortedSlots, toSlotMap } from "../../lib/slots";
import type { Slot } from "../../lib/types";

const H = (h: number, m = 0) => new Date(Date.UTC(2027, 2, 15, h, m)).toISOString();
const slot = (h: number, status: Slot["status"] = "open", held_until?: string): Slot => ({
  start: H(h),
  end: H(h + 1),
  status,
  held_until,
});

test("slot keys treat Z and +00:00 spellings as one instant", () => {
  assert.equal(slotKey("2027-03-15T13:00:00Z"), slotKey("2027-03-15T13:00:00+00:00"));
  assert.equal(slotKey("2027-03-15T14:00:00+01:00"), "2027-03-15T13:00:00.000Z");
});

test("a held change marks the slot held with its held_until", () => {
  const m = applyChanges(toSlotMap([slot(9), slot(10)]), [
    { start: "2027-03-15T09:00:00+00:00", end: H(10), status: "held", held_until: H(8, 10) },
  ]);
  assert.deepEqual(
    sortedSlots(m).map((s) => [s.start, s.status, s.held_until ?? null]),
    [
      [H(9), "held", H(8, 10)],
      [H(10), "open", null],
    ],
  );
});

test("a booked change removes every overlapping slot", () => {
  const m = applyChanges(toSlotMap([slot(9), slot(10), slot(11)]), [{ start: H(9, 30), end: H(10, 30), status: "booked" }]);
  assert.deepEqual([...m.keys()], [H(11)]);
});

test("an open change reopens a held slot and clears held_until", () => {
  const m = applyChanges(toSlotMap([slot(9, "held", H(8, 10))]), [{ start: H(9), end: H(10), status: "open" }]);
  const s = m.get(H(9));
  assert.equal(s?.status, "open");
  assert.equal(s?.held_until, null);
});

test("an open change adds a slot inside the window only", () => {
  const win = { from: Date.parse(H(8)), to: Date.parse(H(12)) };
  const m = applyChanges(new Map(), [
    { start: H(9), end: H(10), status: "open" },
    { start: H(13), end: H(14), status: "open" },
  ], win);
  assert.deepEqual([...m.keys()], [H(9)]);
});

test("changes apply in order: held then open leaves the slot open", () => {
  const m = applyChanges(toSlotMap([slot(9)]), [
    { start: H(9), end: H(10), status: "held", held_until: H(8, 5) },
    { start: H(9), end: H(10), status: "open" },
  ]);
  assert.equal(m.get(H(9))?.status, "open");
});

test("a hold past its held_until reads as open", () => {
  const s = slot(9, "held", H(8, 10));
  assert.equal(effectiveStatus(s, Date.parse(H(8, 9))), "held");
  assert.equal(effectiveStatus(s, Date.parse(H(8, 10))), "open");
});
