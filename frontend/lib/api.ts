/**
 * Typed client for the EduStream REST API (`/api/v1`).
 *
 * Auth rides on the API's cookies (`credentials: "include"`): HttpOnly `es_access` /
 * `es_refresh`, plus the readable `es_csrf` echoed as `X-CSRF-Token` on unsafe methods.
 * A 401 triggers one `POST /auth/refresh` (shared by concurrent callers) and one retry.
 * The `access_token` from login/register/refresh is kept in memory only, for the socket.
 */
import { markLocalAction, rememberBookings } from "./booking-memory";
import { apiUrl } from "./config";
import { friendlyFieldMessage, messageForCode } from "./messages";
import type {
  AdminOverview,
  AdminUser,
  AdminUserPage,
  AuditPage,
  BookingStatus,
  DeadLetterPage,
  PaymentStatus,
  Availability,
  AvailabilityInput,
  AvatarOut,
  AvatarUploadIn,
  BookingEventPage,
  CalendarSync,
  CancelQuote,
  CreditList,
  AuthResponse,
  Booking,
  BookingPage,
  BookingQuery,
  Checkout,
  FieldError,
  HoldCreate,
  InstantAccept,
  InstantRequest,
  InstantRequestIn,
  InstantState,
  Series,
  SeriesCreate,
  Integrations,
  EarningsPage,
  Materials,
  MaterialUploadIn,
  MeUpdate,
  MarkReadOut,
  Message,
  MessagePage,
  ConversationPage,
  ReadOut,
  NotificationPage,
  Onboarding,
  PackageInput,
  PackageList,
  Purchase,
  PurchaseCheckout,
  PayoutStatus,
  PasswordChange,
  PublicConfig,
  RegisterInput,
  Review,
  ReviewInput,
  ReviewPage,
  SlotsQuery,
  SlotsResponse,
  Tutor,
  TutorPage,
  SubjectList,
  TutorProfileIn,
  TutorQuery,
  Upload,
  User,
  WaitlistEntry,
  WaitlistLines,
  WaitlistPage,
} from "./types";

export const CSRF_COOKIE = "es_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

/** An error from the API envelope `{"error": {code, message, details}}`, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, details?: unknown, retryAfter?: number | null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter ?? null;
  }

  /** Per-field messages of a 422, keyed by the last segment of the field path. */
  fieldErrors(): Record<string, string> {
    return fieldErrorsOf(this.details);
  }
}

export function fieldErrorsOf(details: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(details)) return out;
  for (const d of details as Partial<FieldError & { loc: unknown }>[]) {
    if (!d || typeof d !== "object") continue;
    const raw = d.field ?? (Array.isArray(d.loc) ? d.loc.join(".") : undefined);
    if (raw === undefined || typeof d.message !== "string") continue;
    const parts = String(raw)
      .split(".")
      .filter((p) => p && p !== "body" && p !== "query" && !/^\d+$/.test(p));
    const key = parts.length ? parts[parts.length - 1] : String(raw);
    const label = key.charAt(0).toUpperCase() + key.slice(1).replace(/_/g, " ");
    const message = friendlyFieldMessage(label, d.message, typeof d.type === "string" ? d.type : undefined);
    if (!(key in out)) out[key] = message;
    // The full path too ("rules.2.end"), for forms with repeated rows.
    const full = String(raw)
      .split(".")
      .filter((p) => p && p !== "body" && p !== "query")
      .join(".");
    if (full && !(full in out)) out[full] = message;
  }
  return out;
}

/** A human message for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const friendly = messageForCode(err.code);
    if (friendly) return friendly;
    if (err.code === "invalid_request") {
      const fields = Object.values(fieldErrorsOf(err.details));
      return fields.length ? `Please check the form: ${fields[0]}` : "Please check the form and try again.";
    }
    return err.message;
  }
  if (err instanceof Error) return err.message;
  return "Something went wrong. Please try again.";
}

// ---- access token (memory only) -------------------------------------------------

let accessToken: string | null = null;
const tokenListeners = new Set<(token: string | null) => void>();

export function getAccessToken(): string | null {
  return accessToken;
}

export function setAccessToken(token: string | null): void {
  if (token === accessToken) return;
  accessToken = token;
  for (const fn of tokenListeners) fn(token);
}

export function onAccessTokenChange(fn: (token: string | null) => void): () => void {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}

// ---- low-level request ------------------------------------------------------------

type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
  idempotencyKey?: string;
  signal?: AbortSignal;
  /** Skip the refresh-and-retry dance (auth endpoints themselves). */
  noRefresh?: boolean;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function readCookie(name: string): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

export function buildUrl(path: string, query?: Query): string {
  const url = new URL(`${apiUrl()}/api/v1${path}`);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
    }
  }
  return url.toString();
}

async function toApiError(res: Response): Promise<ApiError> {
  const retryAfterRaw = res.headers.get("Retry-After");
  const retryAfter = retryAfterRaw ? Number(retryAfterRaw) || null : null;
  let payload: unknown = null;
  try {
    payload = await res.json();
  } catch {
    // Not JSON (a proxy error page, say): fall through to a generic message.
  }
  const env = (payload as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
  if (env && typeof env.message === "string") {
    return new ApiError(res.status, env.code ?? "error", env.message, env.details, retryAfter);
  }
  const fallback =
    res.status === 429
      ? "Too many requests. Please wait a moment and try again."
      : res.status >= 500
        ? "The server had a problem. Please try again."
        : `Request failed (${res.status}).`;
  return new ApiError(res.status, "http_" + res.status, fallback, undefined, retryAfter);
}

let refreshing: Promise<boolean> | null = null;

/** Rotate the refresh cookie; resolves to whether the session is still alive. */
export function refreshSession(): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const data = await send<Partial<AuthResponse> | undefined>("POST", "/auth/refresh", { noRefresh: true });
        if (data && typeof data.access_token === "string") setAccessToken(data.access_token);
        return true;
      } catch {
        setAccessToken(null);
        return false;
      } finally {
        setTimeout(() => {
          refreshing = null;
        }, 0);
      }
    })();
  }
  return refreshing;
}

async function send<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  if (UNSAFE.has(method)) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;

  let res: Response;
  try {
    res = await fetch(buildUrl(path, opts.query), {
      method,
      headers,
      body,
      credentials: "include",
      cache: "no-store",
      signal: opts.signal,
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "network_error", "Can't reach EduStream right now. Check your connection and try again.");
  }
  if (res.ok) {
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }
  throw await toApiError(res);
}

/** One API call; on 401 refreshes the session once and retries. */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  try {
    return await send<T>(method, path, opts);
  } catch (err) {
    if (opts.noRefresh || !(err instanceof ApiError) || err.status !== 401) throw err;
    const ok = await refreshSession();
    if (!ok) throw err;
    return send<T>(method, path, opts);
  }
}

/** A random v4 UUID, also outside secure contexts where `crypto.randomUUID` is missing. */
export function uuid(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- endpoints --------------------------------------------------------------------

export const api = {
  config: () => request<PublicConfig>("GET", "/config", { noRefresh: true }),

  auth: {
    async login(email: string, password: string): Promise<AuthResponse> {
      const r = await request<AuthResponse>("POST", "/auth/login", { body: { email, password }, noRefresh: true });
      setAccessToken(r.access_token);
      return r;
    },
    async register(input: RegisterInput) {
      const r = await request<AuthResponse>("POST", "/auth/register", { body: input, noRefresh: true });
      setAccessToken(r.access_token);
      return r;
    },
    async logout(): Promise<void> {
      try {
        await request<void>("POST", "/auth/logout", { noRefresh: true });
      } finally {
        setAccessToken(null);
      }
    },
    refresh: refreshSession,
    verifyEmail: (token: string) =>
      request<User>("POST", "/auth/verify-email", { body: { token }, noRefresh: true }),
    resendVerification: () => request<void>("POST", "/auth/verify-email/resend"),
    /** Google sign-in; `role` is the role of an account it creates, `next` where to land. */
    googleLoginUrl: (opts: { role?: "student" | "tutor"; next?: string | null } = {}) =>
      buildUrl("/auth/google/login", { role: opts.role, next: opts.next ?? undefined }),
  },

  me: (signal?: AbortSignal) => request<User>("GET", "/me", { signal }),
  updateMe: (body: MeUpdate) => request<User>("PATCH", "/me", { body }),
  changePassword: (body: PasswordChange) => request<void>("POST", "/me/password", { body }),

  integrations: {
    get: (signal?: AbortSignal) => request<Integrations>("GET", "/integrations", { signal }),
    /** Browser redirect to Google; comes back to `next` with `?google_calendar=connected`. */
    calendarConnectUrl: (next: string) => buildUrl("/integrations/google-calendar/connect", { next }),
    calendarDisconnect: () => request<void>("DELETE", "/integrations/google-calendar"),
    /** Tutors: pull the calendar's busy times now (they also refresh on a schedule). */
    calendarSync: () => request<CalendarSync>("POST", "/integrations/google-calendar/sync"),
  },

  payouts: {
    status: (signal?: AbortSignal) => request<PayoutStatus>("GET", "/tutors/me/payouts", { signal }),
    onboarding: () => request<Onboarding>("POST", "/tutors/me/payouts/onboarding"),
    earnings: (q: { cursor?: string; limit?: number } = {}, signal?: AbortSignal) =>
      request<EarningsPage>("GET", "/tutors/me/earnings", { query: q, signal }),
  },
  tutors: {
    list: (q: TutorQuery, signal?: AbortSignal) =>
      request<TutorPage>("GET", "/tutors", { query: { ...q }, signal }),
    subjects: (signal?: AbortSignal) => request<SubjectList>("GET", "/tutors/subjects", { signal }),
    get: (id: string, signal?: AbortSignal) => request<Tutor>("GET", `/tutors/${encodeURIComponent(id)}`, { signal }),
    slots: (id: string, q: SlotsQuery, signal?: AbortSignal) =>
      request<SlotsResponse>("GET", `/tutors/${encodeURIComponent(id)}/slots`, { query: q, signal }),
    me: (signal?: AbortSignal) => request<Tutor>("GET", "/tutors/me", { signal }),
    putMe: (body: TutorProfileIn) => request<Tutor>("PUT", "/tutors/me", { body }),
    availability: (signal?: AbortSignal) => request<Availability>("GET", "/tutors/me/availability", { signal }),
    putAvailability: (body: AvailabilityInput) => request<Availability>("PUT", "/tutors/me/availability", { body }),
    avatarUrl: (id: string) => `${apiUrl()}/api/v1/tutors/${encodeURIComponent(id)}/avatar`,
    avatarUpload: (body: AvatarUploadIn) => request<Upload>("POST", "/tutors/me/avatar/upload", { body }),
    putAvatar: (key: string) => request<AvatarOut>("PUT", "/tutors/me/avatar", { body: { key } }),
    reviews: (id: string, cursor?: string | null, signal?: AbortSignal) =>
      request<ReviewPage>("GET", `/tutors/${encodeURIComponent(id)}/reviews`, {
        query: cursor ? { cursor } : {},
        signal,
      }),
  },

  instant: {
    /** Tutors: the "available now" toggle, presence and the requests still open for you. */
    state: (signal?: AbortSignal) => request<InstantState>("GET", "/tutors/me/instant", { signal }),
    setAvailable: (available: boolean) => request<InstantState>("PUT", "/tutors/me/instant", { body: { available } }),
    /** Students: ask the tutors online now for a lesson. */
    ask: (body: InstantRequestIn) =>
      request<InstantRequest>("POST", "/instant-requests", { body, idempotencyKey: uuid() }),
    get: (id: string, signal?: AbortSignal) =>
      request<InstantRequest>("GET", `/instant-requests/${encodeURIComponent(id)}`, { signal }),
    cancel: (id: string) => request<InstantRequest>("POST", `/instant-requests/${encodeURIComponent(id)}/cancel`),
    accept: (id: string) => request<InstantAccept>("POST", `/instant-requests/${encodeURIComponent(id)}/accept`),
    decline: (id: string) => request<InstantRequest>("POST", `/instant-requests/${encodeURIComponent(id)}/decline`),
  },

  waitlist: {
    /** Join the line behind a held or booked slot (409 `slot_open` when it can simply be held). */
    join: (body: { tutor_id: string; start: string; minutes: number }) =>
      request<WaitlistEntry>("POST", "/waitlist", { body }),
    mine: (signal?: AbortSignal) => request<WaitlistPage>("GET", "/waitlist", { signal }),
    leave: (id: string) => request<WaitlistEntry>("DELETE", `/waitlist/${encodeURIComponent(id)}`),
    /** The tutor's slots with students in line, and how many. */
    lines: (tutorId: string, signal?: AbortSignal) =>
      request<WaitlistLines>("GET", `/tutors/${encodeURIComponent(tutorId)}/waitlist`, { signal }),
  },

  packages: {
    /** A tutor's packages on sale. */
    ofTutor: (tutorId: string, signal?: AbortSignal) =>
      request<PackageList>("GET", `/tutors/${encodeURIComponent(tutorId)}/packages`, { signal }),
    mine: (signal?: AbortSignal) => request<PackageList>("GET", "/tutors/me/packages", { signal }),
    putMine: (packages: PackageInput[]) => request<PackageList>("PUT", "/tutors/me/packages", { body: { packages } }),
    deactivate: (id: string) => request<void>("DELETE", `/tutors/me/packages/${encodeURIComponent(id)}`),
    /** Start buying a package (Stripe's client secret, or the test provider). */
    checkout: (id: string, idempotencyKey: string) =>
      request<PurchaseCheckout>("POST", `/packages/${encodeURIComponent(id)}/checkout`, { idempotencyKey }),
    purchase: (id: string, signal?: AbortSignal) =>
      request<Purchase>("GET", `/purchases/${encodeURIComponent(id)}`, { signal }),
    testConfirm: (purchaseId: string) =>
      request<Purchase>("POST", "/payments/test/confirm-purchase", { body: { purchase_id: purchaseId } }),
    /** The student's unexpired credits (optionally with one tutor). */
    credits: (tutorId?: string, signal?: AbortSignal) =>
      request<CreditList>("GET", "/me/credits", { query: tutorId ? { tutor_id: tutorId } : {}, signal }),
  },

  messages: {
    /** 201 with the message; 403 `not_allowed` when you may not write to that user. */
    send: (toUserId: string, body: string) => request<Message>("POST", "/messages", { body: { to_user_id: toUserId, body } }),
    /** Most recent first, with unread counts and `unread_total` (the header badge). */
    conversations: (opts: { cursor?: string | null; limit?: number } = {}, signal?: AbortSignal) =>
      request<ConversationPage>("GET", "/conversations", {
        query: { ...(opts.cursor ? { cursor: opts.cursor } : {}), ...(opts.limit ? { limit: String(opts.limit) } : {}) },
        signal,
      }),
    /** Newest first; `cursor` pages to older messages. */
    thread: (conversationId: string, opts: { cursor?: string | null; limit?: number } = {}, signal?: AbortSignal) =>
      request<MessagePage>("GET", `/conversations/${encodeURIComponent(conversationId)}/messages`, {
        query: { ...(opts.cursor ? { cursor: opts.cursor } : {}), ...(opts.limit ? { limit: String(opts.limit) } : {}) },
        signal,
      }),
    markRead: (conversationId: string, upToMessageId: string) =>
      request<ReadOut>("POST", `/conversations/${encodeURIComponent(conversationId)}/read`, {
        body: { up_to_message_id: upToMessageId },
      }),
  },

  notifications: {
    /** Newest first; `unread` lists only unread ones (`unread_count` always counts all). */
    list: (opts: { unread?: boolean; cursor?: string | null; limit?: number } = {}, signal?: AbortSignal) =>
      request<NotificationPage>("GET", "/notifications", {
        query: {
          ...(opts.unread ? { unread: "true" } : {}),
          ...(opts.cursor ? { cursor: opts.cursor } : {}),
          ...(opts.limit ? { limit: String(opts.limit) } : {}),
        },
        signal,
      }),
    markRead: (body: { ids: string[] } | { all: true }) => request<MarkReadOut>("POST", "/notifications/read", { body }),
  },

  reviews: {
    /** The booking's review (404 `review_not_found` while there is none). */
    forBooking: (bookingId: string, signal?: AbortSignal) =>
      request<Review>("GET", `/bookings/${encodeURIComponent(bookingId)}/review`, { signal }),
    create: (bookingId: string, body: ReviewInput) =>
      request<Review>("POST", `/bookings/${encodeURIComponent(bookingId)}/review`, { body }),
    reply: (reviewId: string, body: string) =>
      request<Review>("POST", `/reviews/${encodeURIComponent(reviewId)}/reply`, { body: { body } }),
  },

  holds: {
    create: async (body: HoldCreate, idempotencyKey: string) => {
      const h = await request<Booking>("POST", "/holds", { body, idempotencyKey });
      rememberBookings([h]);
      return h;
    },
    release: (id: string) => {
      markLocalAction(id);
      return request<void>("DELETE", `/holds/${encodeURIComponent(id)}`);
    },
  },

  /** Weekly lessons: every week at the tutor's wall-clock time, held, paid and cancelled together. */
  series: {
    place: (body: SeriesCreate, idempotencyKey: string) =>
      request<Series>("POST", "/series", { body, idempotencyKey }),
    get: (id: string, signal?: AbortSignal) => request<Series>("GET", `/series/${encodeURIComponent(id)}`, { signal }),
    /** Cancel the lessons starting at or after `from` (default: every one not started), by policy. */
    cancel: (id: string, body: { from?: string; reason?: string }) =>
      request<Series>("POST", `/series/${encodeURIComponent(id)}/cancel`, { body }),
  },

  bookings: {
    list: async (q: BookingQuery, signal?: AbortSignal) => {
      const page = await request<BookingPage>("GET", "/bookings", { query: { ...q }, signal });
      rememberBookings(page.items);
      return page;
    },
    get: async (id: string, signal?: AbortSignal) => {
      const b = await request<Booking>("GET", `/bookings/${encodeURIComponent(id)}`, { signal });
      rememberBookings([b]);
      return b;
    },
    events: (id: string, signal?: AbortSignal) =>
      request<BookingEventPage>("GET", `/bookings/${encodeURIComponent(id)}/events`, { signal }),
    /** What cancelling now would refund (for the dialogs, before confirming). */
    cancellation: (id: string, signal?: AbortSignal) =>
      request<CancelQuote>("GET", `/bookings/${encodeURIComponent(id)}/cancellation`, { signal }),
    materials: (id: string, signal?: AbortSignal) =>
      request<Materials>("GET", `/bookings/${encodeURIComponent(id)}/materials`, { signal }),
    /** A presigned form for one file (then POST the form and the file to `url`). */
    materialUpload: (id: string, body: MaterialUploadIn) =>
      request<Upload>("POST", `/bookings/${encodeURIComponent(id)}/materials/upload`, { body }),
    deleteMaterial: (id: string, materialId: string) =>
      request<undefined>("DELETE", `/bookings/${encodeURIComponent(id)}/materials/${encodeURIComponent(materialId)}`),
    checkout: (id: string) => request<Checkout>("POST", `/bookings/${encodeURIComponent(id)}/checkout`),
    /** Confirm a held booking by spending a package credit (409 `no_credit` without one). */
    payWithCredit: (id: string) => {
      markLocalAction(id);
      return request<Checkout>("POST", `/bookings/${encodeURIComponent(id)}/checkout`, { body: { use_credit: true } });
    },
    cancel: (id: string, reason?: string) => {
      markLocalAction(id);
      return request<Booking | undefined>("POST", `/bookings/${encodeURIComponent(id)}/cancel`, {
        body: reason ? { reason } : {},
      });
    },
    reschedule: (id: string, start: string) => {
      markLocalAction(id);
      return request<Booking | undefined>("POST", `/bookings/${encodeURIComponent(id)}/reschedule`, { body: { start } });
    },
  },

  admin: {
    overview: (signal?: AbortSignal) => request<AdminOverview>("GET", "/admin/overview", { signal }),
    users: (q: { q?: string; cursor?: string; limit?: number }, signal?: AbortSignal) =>
      request<AdminUserPage>("GET", "/admin/users", { query: { ...q }, signal }),
    suspend: (id: string, reason: string) =>
      request<AdminUser>("POST", `/admin/users/${encodeURIComponent(id)}/suspend`, { body: { reason } }),
    reinstate: (id: string, reason: string) =>
      request<AdminUser>("POST", `/admin/users/${encodeURIComponent(id)}/reinstate`, { body: { reason } }),
    bookings: (
      q: { status?: BookingStatus; payment_status?: PaymentStatus; cursor?: string; limit?: number },
      signal?: AbortSignal,
    ) => request<BookingPage>("GET", "/admin/bookings", { query: { ...q }, signal }),
    refund: (id: string, body: { amount_cents?: number | null; reason: string }) =>
      request<Booking>("POST", `/admin/bookings/${encodeURIComponent(id)}/refund`, { body }),
    cancel: (id: string, reason: string) =>
      request<Booking>("POST", `/admin/bookings/${encodeURIComponent(id)}/cancel`, { body: { reason } }),
    deadLetters: (q: { retried?: boolean; cursor?: string }, signal?: AbortSignal) =>
      request<DeadLetterPage>("GET", "/admin/dead-letters", { query: { ...q }, signal }),
    retry: (id: number) => request<void>("POST", `/admin/dead-letters/${id}/retry`),
    audit: (q: { cursor?: string; limit?: number }, signal?: AbortSignal) =>
      request<AuditPage>("GET", "/admin/audit", { query: { ...q }, signal }),
    removeReview: (id: string, reason: string) =>
      request<void>("DELETE", `/admin/reviews/${encodeURIComponent(id)}`, { body: { reason } }),
  },

  payments: {
    testConfirm: (bookingId: string) =>
      request<Booking | { booking: Booking } | undefined>("POST", "/payments/test/confirm", {
        body: { booking_id: bookingId },
      }),
  },
};
