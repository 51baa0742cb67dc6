import assert from "node:assert/strict";
import { test } from "node:test";
import { fmtRange, fmtTime, ordinal, timeOptions } from "../../lib/time";

const MIDNIGHT = "2027-03-15T00:00:00Z";
const ONE = "2027-03-15T01:00:00Z";

test("a 24-hour locale always writes two-digit hours, never 0:00 or 24:00", () => {
  assert.equal(fmtTime(MIDNIGHT, "UTC", "en-GB"), "00:00");
  assert.equal(fmtTime(ONE, "UTC", "en-GB"), "01:00");
  assert.equal(fmtTime(MIDNIGHT, "UTC", "de-DE"), "00:00");
  assert.equal(timeOptions("en-GB").hourCycle, "h23");
});

test("a 12-hour locale keeps its own clock", () => {
  assert.match(fmtTime(MIDNIGHT, "UTC", "en-US"), /^12:00\s?AM$/);
  assert.equal(timeOptions("en-US").hourCycle, "h12");
});

test("a range's start and end use the same clock", () => {
  const gb = fmtRange(MIDNIGHT, ONE, "UTC", "en-GB");
  assert.match(gb, /00:00 – 01:00$/);
  const us = fmtRange(MIDNIGHT, ONE, "UTC", "en-US");
  assert.match(us, /12:00\sAM – 1:00\sAM$/);
});

test("ordinal names a place in line", () => {
  assert.deepEqual([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal),
    ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]);
});
