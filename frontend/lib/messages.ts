/**
 * Messages written for people. The API's error `code`s map to friendly text here, and the
 * validation texts of a 422 (pydantic's "String should have at most 200 characters") are
 * rewritten per field, so forms never show "The request is invalid." on its own.
 */

/** What the API's error codes mean to the person who just pressed the button. */
const BY_CODE: Record<string, string> = {
  wrong_password: "Your current password is not correct.",
  invalid_credentials: "The email or password is incorrect.",
  email_taken: "An account with this email already exists. Sign in instead?",
  email_already_verified: "Your e-mail address is already verified.",
  verification_resend_too_soon: "We sent you a link a moment ago. Please wait a little before asking for another.",
  rate_limited: "Too many attempts. Please wait a moment and try again.",
  account_not_found: "Your account could not be found. Please sign in again.",
  not_authenticated: "Your session has ended. Please sign in again.",
  booking_not_found: "This booking does not exist, or it is not one of yours.",
  not_cancellable: "This booking can no longer be cancelled.",
  not_reschedulable: "This booking can no longer be moved.",
  slot_unavailable: "That time was just taken. Please pick another.",
  slot_not_offered: "The tutor does not offer that time.",
  materials_not_found: "This booking does not exist, or it is not one of yours.",
  storage_not_configured: "File uploads are not available on this server.",
  storage_unavailable: "File storage is not reachable right now. Please try again shortly.",
  calendar_not_connected: "Your Google Calendar is not connected.",
  not_reviewable: "You can review a lesson once it has taken place.",
  review_exists: "You have already reviewed this lesson.",
  reply_exists: "You have already replied to this review.",
  review_not_found: "This review does not exist, or it was removed.",
  trial_used: "You have already used your trial lesson with this tutor.",
  trial_not_offered: "This tutor does not offer a trial lesson.",
  series_conflict: "Some of those weeks can't be booked, so nothing was held.",
  hold_not_convertible: "This hold can no longer become weekly lessons. Pick the time again.",
  no_tutor_available: "No tutor for that subject and length is online right now. Try again in a little while.",
  request_pending: "You already have a request waiting for a tutor.",
  request_taken: "Another tutor accepted this request first.",
  request_expired: "This request has ended: nobody accepted it in time.",
  request_cancelled: "The student withdrew this request.",
  request_not_pending: "This request has already ended.",
  not_allowed: "You can't message this person: students write to tutors, tutors to students who booked or wrote to them.",
  network_error: "Can't reach EduStream right now. Check your connection and try again.",
};

/** A friendly message for an API error code, or null when there is none. */
export function messageForCode(code: string | null | undefined): string | null {
  return code ? (BY_CODE[code] ?? null) : null;
}

/** Rewrites one of pydantic's validation texts for `field` (the label a person sees). */
export function friendlyFieldMessage(label: string, message: string, type?: string): string {
  const n = /(\d+)/.exec(message)?.[1];
  if (type === "missing" || /field required/i.test(message)) return `${label} is required.`;
  if (/at most/i.test(message) && n) return `${label} can be at most ${n} characters.`;
  if (/at least/i.test(message) && n) return n === "1" ? `${label} can't be empty.` : `${label} needs at least ${n} characters.`;
  if (/email/i.test(message) && /valid/i.test(message)) return "Please enter a valid email address.";
  if (/time ?zone/i.test(message)) return "Please choose a time zone from the list.";
  if (/extra inputs/i.test(message)) return "This form sent something unexpected. Please reload the page.";
  // "Value error, …": the server's own sentence after the prefix.
  return message.replace(/^Value error,\s*/i, "");
}
