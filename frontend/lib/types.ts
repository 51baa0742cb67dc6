/**
 * Shapes of the EduStream v1 API, as names the components use.
 *
 * The REST types are aliases of `lib/api/schema.d.ts`, which `npm run gen:api` generates from
 * the server's OpenAPI document (`lib/api/openapi.json`; `./scripts/gen-api-types` refreshes
 * both, and a test fails when they are stale). Edit the server's schemas, not these aliases.
 * Only what the OpenAPI document does not describe is written here by hand: the live
 * (Socket.IO `/live`) payloads, which embed the REST objects, and the 422 `details` entries.
 */
import type { components, operations } from "./api/schema";

type Schemas = components["schemas"];

export type User = Schemas["UserOut"];
export type Role = User["role"];
export type AuthResponse = Schemas["AuthOut"];
export type RegisterInput = Schemas["RegisterIn"];
export type PublicConfig = Schemas["ConfigOut"];
export type MeUpdate = Schemas["MeUpdate"];
export type PasswordChange = Schemas["PasswordChange"];
export type Integrations = Schemas["IntegrationsOut"];
export type CalendarStatus = Schemas["CalendarStatusOut"];
export type CalendarSync = Schemas["CalendarSyncOut"];
export type AvatarUploadIn = Schemas["AvatarUploadIn"];
export type AvatarOut = Schemas["AvatarOut"];
export type Upload = Schemas["UploadOut"];
export type Materials = Schemas["MaterialsOut"];
export type Material = Schemas["MaterialOut"];
export type MaterialUploadIn = Schemas["MaterialUploadIn"];

export type TutorProfileIn = Schemas["TutorProfileIn"];
/** A public tutor profile. */
export type Tutor = Schemas["TutorOut"];
export type TutorPage = Schemas["TutorPage"];
export type Subject = Schemas["SubjectOut"];
export type SubjectList = Schemas["SubjectList"];
export type TutorQuery = NonNullable<operations["list_tutors"]["parameters"]["query"]>;

export type Slot = Schemas["SlotOut"];
export type SlotStatus = Slot["status"];
export type SlotsResponse = Schemas["SlotsOut"];
export type SlotsQuery = NonNullable<operations["get_slots"]["parameters"]["query"]>;

export type Booking = Schemas["BookingOut"];
export type BookingStatus = Booking["status"];
export type BookingPage = Schemas["BookingPage"];
export type BookingQuery = NonNullable<operations["list_bookings"]["parameters"]["query"]>;
export type HoldCreate = Schemas["HoldCreate"];
export type Checkout = Schemas["CheckoutOut"];
export type BookingEventPage = Schemas["BookingEventPage"];
export type BookingHistoryEntry = Schemas["BookingEventOut"];
export type CancelQuote = Schemas["CancelQuoteOut"];
export type Series = Schemas["SeriesOut"];
export type SeriesCreate = Schemas["SeriesCreate"];
export type Occurrence = Schemas["OccurrenceOut"];

export type PayoutStatus = Schemas["PayoutStatusOut"];
export type PayoutState = PayoutStatus["status"];
export type Onboarding = Schemas["OnboardingOut"];
export type Earning = Schemas["EarningOut"];
export type EarningStatus = Earning["status"];
export type EarningsPage = Schemas["EarningsPage"];
export type EarningsTotal = Schemas["EarningsTotal"];
export type Review = Schemas["ReviewOut"];
export type ReviewPage = Schemas["ReviewPage"];
export type ReviewInput = Schemas["ReviewIn"];
export type Trial = Schemas["TrialOut"];
export type LessonPackage = Schemas["PackageOut"];
export type PackageList = Schemas["PackageList"];
export type PackageInput = Schemas["PackageIn"];
export type Purchase = Schemas["PurchaseOut"];
export type PurchaseCheckout = Schemas["PurchaseCheckoutOut"];
export type Credit = Schemas["CreditOut"];
export type CreditList = Schemas["CreditList"];

export type Availability = Schemas["AvailabilityOut"];
export type AvailabilityInput = Schemas["AvailabilityIn"];
export type AvailabilityRule = Schemas["RuleIn"];
export type AvailabilityOverride = Schemas["OverrideIn"];

/** One entry of a 422 `invalid_request` error's `details` (the document types `details` as unknown). */
export interface FieldError {
  field: string;
  message: string;
  type?: string;
}

/** Live events (Socket.IO namespace `/live`, docs/live.md): not part of the OpenAPI document. */

/** A slot's status after a change; `booked` means it left the listing. */
export type ChangeStatus = SlotStatus | "booked";

export type SlotChange = Omit<Slot, "status"> & { status: ChangeStatus };

export interface SlotsChangedEvent {
  tutor_id: SlotsResponse["tutor_id"];
  version: SlotsResponse["version"];
  changes: SlotChange[];
  resync?: boolean;
}

/** `booking.new` / `booking.updated`: the same object as `GET /bookings/{id}`. */
/** `payout.updated`: the payout account's state, and a payout that reached (or bounced from) the bank. */
export interface PayoutUpdatedEvent extends PayoutStatus {
  payout?: { id: string; status: "paid" | "failed"; amount_cents: number; currency: string; lines: number };
}

export interface BookingEvent {
  booking: Booking;
}

/** `credits.updated`: a package purchase was paid and its credits granted. */
export interface CreditsUpdatedEvent {
  purchase: Purchase;
}

export type Message = Schemas["MessageOut"];
export type Conversation = Schemas["ConversationOut"];
export type ConversationPage = Schemas["ConversationPage"];
export type MessagePage = Schemas["MessagePage"];
export type ReadOut = Schemas["ReadOut"];

/** `message.new`: a message to this user, or one this user sent from another tab. */
export interface MessageNewEvent {
  message: Message;
}

/** `message.read`: one side of a conversation read it up to a message (a read receipt). */
export interface MessageReadEvent {
  conversation_id: string;
  reader_id: string;
  up_to_message_id: string;
  read_at: string;
}

export type Notification = Schemas["NotificationOut"];
export type NotificationKind = Notification["kind"];
export type NotificationPage = Schemas["NotificationPage"];
export type MarkReadOut = Schemas["MarkReadOut"];

/** `notification.new`: a personal event as stored (right after the event itself). */
export interface NotificationNewEvent {
  notification: Notification;
}

/** `notifications.read`: this user marked notifications read (maybe in another tab). */
export interface NotificationsReadEvent {
  ids: string[];
  unread_count: number;
}

export interface HoldExpiringEvent {
  booking_id: Booking["id"];
  expires_at: string;
}

export interface SessionStartingEvent {
  booking_id: Booking["id"];
  starts_at: Booking["start"];
  minutes_before: number;
  join_url?: Booking["join_url"];
}

// ---- instant lessons (docs/instant.md) ----------------------------------------------------

export type InstantState = Schemas["InstantStateOut"];
export type InstantOffer = Schemas["InstantOfferOut"];
export type InstantRequest = Schemas["InstantRequestOut"];
export type InstantRequestIn = Schemas["InstantRequestIn"];
export type InstantAccept = Schemas["AcceptOut"];

/** `instant.request`: a student asks for a lesson now; accept before `request.expires_at`. */
export interface InstantRequestEvent {
  request: InstantOffer;
}

/** `instant.accepted` (to the student): a tutor took the request; the booking is held until paid. */
export interface InstantAcceptedEvent {
  request: InstantRequest;
  booking: Booking;
}

/**
 * `instant.expired` / `instant.cancelled` / `instant.declined`: the student gets `{request}`, the
 * offered tutors `{request_id, status}`; `instant.taken` (tutors only): another tutor accepted;
 * `instant.declined` also reaches a tutor's other tabs when they decline (status still `pending`).
 */
export interface InstantEndedEvent {
  request?: InstantRequest;
  request_id?: string;
  status?: string;
}

// ---- the waitlist behind a taken slot (docs/waitlist.md) ----------------------------------

export type WaitlistEntry = Schemas["WaitlistOut"];
export type WaitlistPage = Schemas["WaitlistPage"];
export type WaitlistLines = Schemas["LinesOut"];

/** `waitlist.offer`: the slot the student waited for is theirs, held until `booking.expires_at`. */
export interface WaitlistOfferEvent {
  waitlist_id: string;
  booking: Booking;
  entry?: WaitlistEntry;
}

/** `waitlist.updated`: the student's entry changed (new `position`, skipped, offer ended). */
export interface WaitlistUpdatedEvent {
  entry: WaitlistEntry;
}

/** The average rating, or null for a tutor nobody has rated yet. */
export function ratingOf(t: Tutor): number | null {
  return t.rating_count === 0 ? null : t.rating;
}

/** Subjects come back as slugs ("computer-science"): show them as words. */
export function subjectLabel(s: string): string {
  const words = s.replace(/[-_]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export type AdminUser = Schemas["AdminUserOut"];
export type AdminUserPage = Schemas["AdminUserPage"];
export type AuditEntry = Schemas["AuditEntryOut"];
export type AuditPage = Schemas["AuditPage"];
export type AdminActionKind = Schemas["AdminActionKind"];
export type AdminOverview = Schemas["OverviewOut"];
export type DeadLetter = Schemas["DeadLetterOut"];
export type DeadLetterPage = Schemas["DeadLetterPage"];
export type PaymentStatus = Schemas["PaymentStatus"];
