import assert from "node:assert/strict";
import { test } from "node:test";
import { safeNextPath } from "../../lib/redirect";

const ORIGIN = "http://localhost:3000";

test("same-site paths are kept with their query and fragment", () => {
  assert.equal(safeNextPath("/tutors/abc", ORIGIN), "/tutors/abc");
  assert.equal(safeNextPath("/bookings?status=held#top", ORIGIN), "/bookings?status=held#top");
  assert.equal(safeNextPath("tutors", ORIGIN), "/tutors");
  assert.equal(safeNextPath(`${ORIGIN}/me`, ORIGIN), "/me");
});

test("anything that leaves the site falls back (null)", () => {
  for (const raw of [
    "//evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    " //evil.com",
    "https://evil.com",
    "https://evil.com/path",
    "http://localhost:3001/",
    "https://localhost:3000/",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://localhost:3000@evil.com/",
  ]) {
    assert.equal(safeNextPath(raw, ORIGIN), null, JSON.stringify(raw));
  }
});

test("a path that normalises to a leading // stays on the site", () => {
  const path = safeNextPath("/.//evil.com", ORIGIN);
  assert.ok(path !== null && !path.startsWith("//") && !path.startsWith("/\\"), String(path));
  assert.equal(new URL(path, ORIGIN).origin, ORIGIN);
});

test("no next gives null", () => {
  assert.equal(safeNextPath(null, ORIGIN), null);
  assert.equal(safeNextPath("", ORIGIN), null);
});
