/**
 * Shapes of the EduStream v1 API (see shared API contract). Fields the contract
 * does not promise are optional, so the UI degrades gracefully without them.
 */

export type Role = "student" | "tutor" | "admin";

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
}

export interface AuthResponse {
  user: User;
  access_token: string;
}

export interface PublicConfig {
  stripe_publishable_key?: string | null;
  google_sign_in: boolean;
}

export interface TutorProfileIn {
  headline: string;
  bio: string;
  subjects: string[];
  hourly_rate_cents: number;
  currency: string;
  timezone: string;
  lesson_minutes: number[];
  min_notice_minutes: number;
  buffer_minutes: number;
  max_advance_days: number;
}

/** A public tutor profile. The contract names the fields of the editor; the rest is optional. */
export interface Tutor extends Partial<TutorProfileIn> {
  id?: string;
  tutor_id?: string;
  user_id?: string;
  name?: string;
  rating?: number | null;
  rating_avg?: number | null;
  review_count?: number | null;
  rating_count?: number | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type SlotStatus = "open" | "held";
export type ChangeStatus = "open" | "held" | "booked";

export interface Slot {
  start: string;
  end: string;
  status: SlotStatus;
  held_until?: string | null;
}

export interface SlotsResponse {
  tutor_id: string;
  version: number;
  slots: Slot[];
}

export interface SlotChange {
  start: string;
  end: string;
  status: ChangeStatus;
  held_until?: string | null;
}

export type BookingStatus = "held" | "confirmed" | "completed" | "expired" | "released" | "cancelled";

export interface Booking {
  id: string;
  status: BookingStatus;
  tutor_id: string;
  student_id: string;
  start: string;
  end: string;
  expires_at?: string | null;
  price_cents: number;
  currency: string;
  join_url?: string | null;
  minutes?: number;
  payment_status?: string | null;
  refund_cents?: number | null;
  cancel_reason?: string | null;
  cancelled_by?: string | null;
  created_at?: string;
  tutor_name?: string | null;
  student_name?: string | null;
}

/** `POST /holds` answers with a booking in status `held`. */
export type Hold = Booking & { status: "held"; expires_at: string };

export interface Checkout {
  booking: Booking;
  payment: {
    provider: "test" | "stripe" | "free" | string;
    client_secret?: string | null;
    publishable_key?: string | null;
  };
}

export interface AvailabilityRule {
  weekday: number;
  start: string;
  end: string;
}

export interface AvailabilityOverride {
  date: string;
  start?: string | null;
  end?: string | null;
}

export interface Availability {
  rules: AvailabilityRule[];
  overrides: AvailabilityOverride[];
}

export interface FieldError {
  field: string;
  message: string;
}

/** Live events (Socket.IO namespace `/live`). */
export interface SlotsChangedEvent {
  tutor_id: string;
  version: number;
  changes: SlotChange[];
  resync?: boolean;
}

export interface BookingEvent {
  booking: Booking;
}

export interface HoldExpiringEvent {
  booking_id: string;
  expires_at: string;
}

export interface SessionStartingEvent {
  booking_id: string;
  starts_at: string;
  minutes_before: number;
  join_url?: string | null;
}

/** Picks the tutor's user id whatever the backend calls it. */
export function tutorIdOf(t: Tutor): string {
  return t.tutor_id ?? t.user_id ?? t.id ?? "";
}

/** The average rating, or null for a tutor nobody has rated yet. */
export function ratingOf(t: Tutor): number | null {
  const r = t.rating ?? t.rating_avg;
  const count = t.rating_count ?? t.review_count;
  if (typeof r !== "number" || count === 0 || (count == null && r === 0)) return null;
  return r;
}

/** Subjects come back as slugs ("computer-science"): show them as words. */
export function subjectLabel(s: string): string {
  const words = s.replace(/[-_]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}
