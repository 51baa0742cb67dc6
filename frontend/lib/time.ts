/** Date helpers. Everything is shown in the viewer's own (browser) time zone. */

export const DAY_MS = 86_400_000;

export function userTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** Local midnight of the Monday of the week containing `d`. */
export function startOfWeek(d: Date): Date {
  const x = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  const dow = (x.getDay() + 6) % 7; // Monday = 0
  x.setDate(x.getDate() - dow);
  return x;
}

export function addDays(d: Date, n: number): Date {
  const x = new Date(d);
  x.setDate(x.getDate() + n);
  return x;
}

/** Local calendar date as `YYYY-MM-DD`. */
export function localDateKey(d: Date): string {
  const m = String(d.getMonth() + 1).padStart(2, "0");
  const day = String(d.getDate()).padStart(2, "0");
  return `${d.getFullYear()}-${m}-${day}`;
}

export function sameLocalDay(a: Date, b: Date): boolean {
  return localDateKey(a) === localDateKey(b);
}

/**
 * The one way a time of day is written: the viewer's locale (or `locale`) with that locale's own
 * 12/24-hour convention, "9:00 AM" in en-US and "09:00" (never "9:00" or "24:00") where the clock
 * has 24 hours. Every date-and-time helper below goes through it.
 */
export function timeOptions(locale?: string): Intl.DateTimeFormatOptions {
  let cycle: string | undefined;
  try {
    cycle = new Intl.DateTimeFormat(locale, { hour: "numeric" }).resolvedOptions().hourCycle;
  } catch {
    cycle = undefined;
  }
  const twelve = cycle === "h12" || cycle === "h11";
  return twelve ? { hour: "numeric", minute: "2-digit", hourCycle: "h12" } : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
}

/** Format `d` with `opts` (plus `timeZone`) in the viewer's locale; times use {@link timeOptions}. */
export function formatDate(
  iso: string | Date,
  opts: Intl.DateTimeFormatOptions,
  { timeZone, locale, time = false }: { timeZone?: string; locale?: string; time?: boolean } = {},
): string {
  const d = typeof iso === "string" ? new Date(iso) : iso;
  const all: Intl.DateTimeFormatOptions = { ...opts, ...(time ? timeOptions(locale) : {}), ...(timeZone ? { timeZone } : {}) };
  try {
    return new Intl.DateTimeFormat(locale, all).format(d);
  } catch {
    const { timeZone: _ignored, ...rest } = all;
    void _ignored;
    return new Intl.DateTimeFormat(locale, rest).format(d);
  }
}

export function fmtTime(iso: string | Date, timeZone?: string, locale?: string): string {
  return formatDate(iso, {}, { time: true, timeZone, locale });
}

export function fmtDayShort(d: Date): string {
  return formatDate(d, { weekday: "short" });
}

export function fmtDayNum(d: Date): string {
  return formatDate(d, { day: "numeric", month: "short" });
}

export function fmtMonthShort(d: Date): string {
  return formatDate(d, { month: "short" });
}

export function fmtDate(iso: string | Date): string {
  return formatDate(iso, { weekday: "long", day: "numeric", month: "long" });
}

export function fmtDateTime(iso: string | Date, timeZone?: string, locale?: string): string {
  return formatDate(iso, { weekday: "short", day: "numeric", month: "short" }, { time: true, timeZone, locale });
}

/** "Tue 8 Dec, 10:00 – 11:00" (the end's date is left out). */
export function fmtRange(startIso: string, endIso: string, timeZone?: string, locale?: string): string {
  return `${fmtDateTime(startIso, timeZone, locale)} – ${fmtTime(endIso, timeZone, locale)}`;
}

export function fmtWeekRange(weekStart: Date): string {
  const end = addDays(weekStart, 6);
  const sameMonth = weekStart.getMonth() === end.getMonth();
  const a = formatDate(weekStart, sameMonth ? { day: "numeric" } : { day: "numeric", month: "short" });
  const b = formatDate(end, { day: "numeric", month: "short", year: "numeric" });
  return `${a} – ${b}`;
}

export function minutesBetween(startIso: string, endIso: string): number {
  return Math.round((Date.parse(endIso) - Date.parse(startIso)) / 60_000);
}

/** `mm:ss`, or `h:mm:ss` past an hour; never negative. */
export function fmtCountdown(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A spoken version of a countdown for screen readers ("4 minutes 5 seconds"). */
export function spokenDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  if (m === 0) return `${s} second${s === 1 ? "" : "s"}`;
  return `${m} minute${m === 1 ? "" : "s"}${s ? ` ${s} second${s === 1 ? "" : "s"}` : ""}`;
}

export function fmtMoney(cents: number | undefined | null, currency: string | undefined | null): string {
  if (typeof cents !== "number") return "—";
  const cur = (currency || "USD").toUpperCase();
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: cur,
      minimumFractionDigits: cents % 100 === 0 ? 0 : 2,
    }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${cur}`;
  }
}

export function relativeFromNow(iso: string, now = Date.now()): string {
  const diff = Date.parse(iso) - now;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (abs < 60_000) return rtf.format(Math.round(diff / 1000), "second");
  if (abs < 3_600_000) return rtf.format(Math.round(diff / 60_000), "minute");
  if (abs < DAY_MS) return rtf.format(Math.round(diff / 3_600_000), "hour");
  return rtf.format(Math.round(diff / DAY_MS), "day");
}

/** A date and time in a given IANA zone ("Tue 8 Dec, 10:00 GMT"), with the zone's short name. */
export function fmtInZone(iso: string | Date, timeZone: string): string {
  return formatDate(iso, { weekday: "short", day: "numeric", month: "short", timeZoneName: "short" }, { time: true, timeZone });
}

/** A time range in a given zone: "Tue 8 Dec, 10:00 – 11:00 GMT". */
export function fmtRangeInZone(startIso: string, endIso: string, timeZone: string): string {
  const end = formatDate(endIso, { timeZoneName: "short" }, { time: true, timeZone });
  return `${fmtDateTime(startIso, timeZone)} – ${end}`;
}

/** "1st", "2nd", "3rd", "4th", "11th", "21st"… (a place in a waitlist). */
export function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}
