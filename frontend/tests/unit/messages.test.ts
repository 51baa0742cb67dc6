import assert from "node:assert/strict";
import { test } from "node:test";
import { api, ApiError, errorMessage, fieldErrorsOf } from "../../lib/api";
import { friendlyFieldMessage } from "../../lib/messages";

test("API error codes read as sentences for people", () => {
  assert.equal(errorMessage(new ApiError(403, "wrong_password", "Wrong password.")), "Your current password is not correct.");
  assert.match(errorMessage(new ApiError(429, "verification_resend_too_soon", "x")), /wait a little/);
  // An unknown code keeps the server's own message.
  assert.equal(errorMessage(new ApiError(409, "something_new", "Server says so.")), "Server says so.");
});

test("a 422 never shows just 'The request is invalid.'", () => {
  const err = new ApiError(422, "invalid_request", "The request is invalid.", [
    { field: "body.name", message: "String should have at most 200 characters", type: "string_too_long" },
  ]);
  assert.equal(errorMessage(err), "Please check the form: Name can be at most 200 characters.");
  assert.equal(errorMessage(new ApiError(422, "invalid_request", "The request is invalid.")), "Please check the form and try again.");
});

test("pydantic texts are rewritten per field", () => {
  assert.equal(friendlyFieldMessage("Password", "String should have at least 8 characters"), "Password needs at least 8 characters.");
  assert.equal(friendlyFieldMessage("Name", "Field required", "missing"), "Name is required.");
  assert.equal(friendlyFieldMessage("Timezone", "Value error, unknown time zone 'Mars/Base'"), "Please choose a time zone from the list.");
  assert.equal(fieldErrorsOf([{ field: "body.new_password", message: "String should have at least 8 characters" }]).new_password,
    "New password needs at least 8 characters.");
});

test("Google sign-in from the sign-up page carries the chosen role", () => {
  const url = new URL(api.auth.googleLoginUrl({ role: "tutor", next: "/tutor/profile" }));
  assert.equal(url.pathname, "/api/v1/auth/google/login");
  assert.equal(url.searchParams.get("role"), "tutor");
  assert.equal(url.searchParams.get("next"), "/tutor/profile");
  assert.equal(new URL(api.auth.googleLoginUrl()).search, "");
});
