"use client";

import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, errorMessage } from "@/lib/api";
import { fmtMoney } from "@/lib/time";
import { ratingOf, subjectLabel, type Subject, type Tutor, type TutorQuery } from "@/lib/types";
import { TrialBadge } from "./reviews";
import { Alert, Avatar, Badge, Button, Card, EmptyState, inputClass, Skeleton } from "./ui";

/** Suggestions for tutors naming their subjects (the search lists the subjects that exist). */
export const COMMON_SUBJECTS = [
  "Mathematics",
  "Physics",
  "Chemistry",
  "Biology",
  "English",
  "Spanish",
  "French",
  "German",
  "Computer Science",
  "Programming",
  "History",
  "Economics",
  "Music",
];

/** Currencies the max-price filter offers; rates are compared only within the one picked (never converted). */
export const PRICE_CURRENCIES = ["USD", "EUR", "GBP", "CAD", "AUD", "CHF"];

const PAGE_SIZE = 12;
const LABEL = "block text-xs font-semibold uppercase tracking-wide text-slate-500";

/** The slug the server would store for a subject name ("Computer Science" → "computer-science"). */
export function subjectSlug(name: string): string {
  return name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

interface Filters {
  q: string;
  subject: string;
  max: string;
  currency: string;
  sort: "rating" | "price";
}

function filtersFrom(params: URLSearchParams): Filters {
  const sort = params.get("sort");
  return {
    q: params.get("q") ?? "",
    subject: params.get("subject") ?? "",
    max: params.get("max") ?? "",
    currency: PRICE_CURRENCIES.includes(params.get("cur") ?? "") ? (params.get("cur") as string) : "USD",
    sort: sort === "price" ? "price" : "rating",
  };
}

function toQuery(f: Filters, cursor: string | null): TutorQuery {
  const max = Number(f.max);
  const withMax = Boolean(f.max) && Number.isFinite(max) && max > 0;
  return {
    q: f.q.trim() || undefined,
    subject: f.subject.trim() || undefined,
    // The server compares rates only among tutors charging in `currency` (no conversion).
    max_rate_cents: withMax ? Math.round(max * 100) : undefined,
    currency: withMax ? f.currency : undefined,
    sort: f.sort,
    cursor,
    limit: PAGE_SIZE,
  };
}

export function TutorSearch() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const applied = filtersFrom(new URLSearchParams(params.toString()));
  const appliedKey = JSON.stringify(applied);

  const [draft, setDraft] = useState<Filters>(applied);
  const [items, setItems] = useState<Tutor[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [subjects, setSubjects] = useState<Subject[] | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    api.tutors
      .subjects(ac.signal)
      .then((list) => setSubjects(list.items))
      .catch(() => {
        if (!ac.signal.aborted) setSubjects([]);
      });
    return () => ac.abort();
  }, []);

  useEffect(() => {
    setDraft(JSON.parse(appliedKey) as Filters);
    const ac = new AbortController();
    setLoading(true);
    setError(null);
    api.tutors
      .list(toQuery(JSON.parse(appliedKey) as Filters, null), ac.signal)
      .then((page) => {
        setItems(page.items);
        setCursor(page.next_cursor ?? null);
        setLoading(false);
      })
      .catch((err: unknown) => {
        if (ac.signal.aborted) return;
        setError(errorMessage(err));
        setItems([]);
        setCursor(null);
        setLoading(false);
      });
    return () => ac.abort();
  }, [appliedKey]);

  const loadMore = useCallback(async () => {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api.tutors.list(toQuery(JSON.parse(appliedKey) as Filters, cursor));
      setItems((prev) => {
        const seen = new Set(prev.map((t) => t.id));
        return [...prev, ...page.items.filter((t) => !seen.has(t.id))];
      });
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setLoadingMore(false);
    }
  }, [cursor, appliedKey]);

  function apply(f: Filters) {
    const sp = new URLSearchParams();
    if (f.q.trim()) sp.set("q", f.q.trim());
    if (f.subject.trim()) sp.set("subject", f.subject.trim());
    if (f.max.trim()) sp.set("max", f.max.trim());
    if (f.currency !== "USD") sp.set("cur", f.currency);
    if (f.sort !== "rating") sp.set("sort", f.sort);
    const qs = sp.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    apply(draft);
  }

  const hasFilters = Boolean(applied.q || applied.subject || applied.max);
  // The select shows slugs; a subject typed into an old link (a name) is matched to its slug.
  const subjectValue = subjectSlug(draft.subject);
  const subjectOptions: Subject[] = [...(subjects ?? [])];
  if (subjectValue && !subjectOptions.some((s) => s.slug === subjectValue)) {
    subjectOptions.push({ slug: subjectValue, name: subjectLabel(subjectValue), tutors: 0 });
  }

  return (
    <div>
      <Card className="!p-3 sm:!p-5">
        <form
          onSubmit={onSubmit}
          role="search"
          aria-label="Search tutors"
          className="grid grid-cols-2 gap-x-3 gap-y-2 sm:gap-y-3 lg:grid-cols-[2fr_1.5fr_1.4fr_1fr_auto] lg:items-end"
        >
          <div className="col-span-2 lg:col-span-1">
            <label htmlFor="search-q" className={LABEL}>
              Search
            </label>
            <input
              id="search-q"
              type="search"
              placeholder="Name, topic or exam…"
              value={draft.q}
              onChange={(e) => setDraft({ ...draft, q: e.target.value })}
              className={inputClass(false, "mt-1 h-10 sm:h-11")}
            />
          </div>
          <div>
            <label htmlFor="search-subject" className={LABEL}>
              Subject
            </label>
            <select
              id="search-subject"
              value={subjectValue}
              onChange={(e) => {
                const next = { ...draft, subject: e.target.value };
                setDraft(next);
                apply(next);
              }}
              className={inputClass(false, "mt-1 h-10 sm:h-11")}
              data-testid="filter-subject"
              aria-busy={subjects === null}
            >
              <option value="">Any subject</option>
              {subjectOptions.map((s) => (
                <option key={s.slug} value={s.slug} data-testid="subject-option">
                  {s.tutors ? `${s.name} (${s.tutors})` : s.name}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="search-max" className={LABEL} data-testid="max-price-label">
              Max / hour ({draft.currency})
            </label>
            <div className="mt-1 flex gap-1">
              <select
                aria-label="Currency of the max price"
                value={draft.currency}
                onChange={(e) => setDraft({ ...draft, currency: e.target.value })}
                className={inputClass(false, "h-10 !w-[4.75rem] shrink-0 !px-2 sm:h-11")}
                data-testid="filter-currency"
              >
                {PRICE_CURRENCIES.map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
              <input
                id="search-max"
                type="number"
                inputMode="decimal"
                min={0}
                step="any"
                placeholder="Any"
                value={draft.max}
                onChange={(e) => setDraft({ ...draft, max: e.target.value })}
                className={inputClass(false, "h-10 min-w-0 flex-1 sm:h-11")}
                data-testid="filter-max-price"
              />
            </div>
          </div>
          <div>
            <label htmlFor="search-sort" className={LABEL}>
              Sort by
            </label>
            <select
              id="search-sort"
              value={draft.sort}
              onChange={(e) => {
                const next = { ...draft, sort: e.target.value as Filters["sort"] };
                setDraft(next);
                apply(next);
              }}
              className={inputClass(false, "mt-1 h-10 sm:h-11")}
              data-testid="filter-sort"
            >
              <option value="rating">Top rated</option>
              <option value="price">Lowest price</option>
            </select>
          </div>
          <Button type="submit" className="h-10 self-end sm:h-11" data-testid="search-submit">
            Search
          </Button>
        </form>
      </Card>

      <div className="mt-6" aria-live="polite" aria-busy={loading}>
        {error && (
          <div className="mb-4">
            <Alert title="Couldn't load tutors" testId="search-error">
              {error}
            </Alert>
          </div>
        )}
        {loading ? (
          <TutorGridSkeleton />
        ) : items.length === 0 && !error ? (
          <EmptyState
            icon="search"
            title={hasFilters ? "No tutors match those filters" : "No tutors yet"}
            action={
              hasFilters ? (
                <Button variant="secondary" onClick={() => apply({ q: "", subject: "", max: "", currency: applied.currency, sort: applied.sort })}>
                  Clear filters
                </Button>
              ) : undefined
            }
          >
            {hasFilters
              ? applied.max
                ? `Try a different subject or a higher price limit (the limit shows only tutors charging in ${applied.currency}).`
                : "Try a different subject or a higher price limit."
              : "Tutors appear here as soon as they publish a profile. Check back soon!"}
          </EmptyState>
        ) : (
          <>
            <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="tutor-list">
              {items.map((t) => (
                <li key={t.id}>
                  <TutorCard tutor={t} />
                </li>
              ))}
            </ul>
            {cursor && (
              <div className="mt-8 flex justify-center">
                <Button variant="secondary" onClick={loadMore} loading={loadingMore} data-testid="load-more">
                  Load more tutors
                </Button>
              </div>
            )}
          </>
        )}
      </div>
    </div>
  );
}

export function Stars({ rating, count }: { rating: number | null; count?: number | null }) {
  if (rating === null) return <span className="text-xs font-medium text-emerald-700">New tutor</span>;
  return (
    <span className="inline-flex items-center gap-1 text-sm" aria-label={`Rated ${rating.toFixed(1)} out of 5${count ? ` from ${count} reviews` : ""}`}>
      <span aria-hidden="true" className="text-amber-400">
        ★
      </span>
      <span className="font-semibold text-slate-900">{rating.toFixed(1)}</span>
      {count ? <span className="text-slate-500">({count})</span> : null}
    </span>
  );
}

function TutorCard({ tutor }: { tutor: Tutor }) {
  const id = tutor.id;
  const subjects = tutor.subjects ?? [];
  return (
    <Link
      href={`/tutors/${encodeURIComponent(id)}`}
      data-testid="tutor-card"
      data-tutor-id={id}
      className="group flex h-full flex-col rounded-2xl bg-white p-5 shadow-sm ring-1 ring-slate-200/80 transition hover:-translate-y-0.5 hover:shadow-md hover:ring-indigo-200"
    >
      <div className="flex items-start gap-4">
        <Avatar name={tutor.name} src={tutor.has_avatar ? api.tutors.avatarUrl(id) : null} />
        <div className="min-w-0 flex-1">
          <h2 className="truncate text-base font-semibold text-slate-900 group-hover:text-indigo-700">{tutor.name ?? "Tutor"}</h2>
          <p className="mt-0.5 line-clamp-2 text-sm text-slate-600">{tutor.headline || "Friendly tutor on EduStream"}</p>
        </div>
      </div>
      {subjects.length > 0 && (
        <div className="mt-4 flex flex-wrap gap-1.5">
          {subjects.slice(0, 4).map((s) => (
            <Badge key={s} color="indigo">
              {subjectLabel(s)}
            </Badge>
          ))}
          {subjects.length > 4 && <Badge>+{subjects.length - 4}</Badge>}
        </div>
      )}
      {tutor.trial && (
        <div className="mt-3">
          <TrialBadge trial={tutor.trial} currency={tutor.currency} />
        </div>
      )}
      <div className="mt-auto flex items-center justify-between pt-5">
        <Stars rating={ratingOf(tutor)} count={tutor.rating_count} />
        <span className="text-sm">
          <span className="font-semibold text-slate-900">{fmtMoney(tutor.hourly_rate_cents, tutor.currency)}</span>
          <span className="text-slate-500"> / hour</span>
        </span>
      </div>
    </Link>
  );
}

function TutorGridSkeleton() {
  return (
    <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="tutor-list-loading">
      {Array.from({ length: 6 }, (_, i) => (
        <div key={i} className="rounded-2xl bg-white p-5 ring-1 ring-slate-200/80">
          <div className="flex gap-4">
            <Skeleton className="h-12 w-12 rounded-full" />
            <div className="flex-1 space-y-2">
              <Skeleton className="h-4 w-2/3" />
              <Skeleton className="h-3 w-full" />
            </div>
          </div>
          <div className="mt-5 flex gap-2">
            <Skeleton className="h-5 w-16 rounded-full" />
            <Skeleton className="h-5 w-20 rounded-full" />
          </div>
          <Skeleton className="mt-6 h-4 w-full" />
        </div>
      ))}
    </div>
  );
}

export function TutorSearchSkeleton() {
  return (
    <div>
      <Skeleton className="h-24 w-full rounded-2xl" />
      <div className="mt-6">
        <TutorGridSkeleton />
      </div>
    </div>
  );
}
