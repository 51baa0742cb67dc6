import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, fieldErrorsOf, uuid } from "../../lib/api";

test("422 details map to field names and to full paths", () => {
  const fe = fieldErrorsOf([
    { field: "body.email", message: "not an email" },
    { field: "rules.2.end", message: "must be after start" },
  ]);
  assert.equal(fe.email, "not an email");
  assert.equal(fe.end, "must be after start");
  assert.equal(fe["rules.2.end"], "must be after start");
});

test("details that are not a list give no field errors", () => {
  assert.deepEqual(fieldErrorsOf(null), {});
  assert.deepEqual(new ApiError(409, "slot_unavailable", "taken", { start: "x" }).fieldErrors(), {});
});

test("uuid gives RFC 4122 version 4 ids", () => {
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  assert.match(uuid(), re);
  assert.notEqual(uuid(), uuid());
});
