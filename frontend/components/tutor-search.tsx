"use client";

import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api, errorMessage } from "@/lib/api";
import { fmtMoney } from "@/lib/time";
import { ratingOf, subjectLabel, type Tutor, type TutorQuery } from "@/lib/types";
import { Alert, Avatar, Badge, Button, Card, EmptyState, inputClass, Skeleton } from "./ui";

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

const PAGE_SIZE = 12;

interface Filters {
  q: string;
  subject: string;
  max: string;
  sort: "rating" | "price";
}

function filtersFrom(params: URLSearchParams): Filters {
  const sort = params.get("sort");
  return {
    q: params.get("q") ?? "",
    subject: params.get("subject") ?? "",
    max: params.get("max") ?? "",
    sort: sort === "price" ? "price" : "rating",
  };
}

function toQuery(f: Filters, cursor: string | null): TutorQuery {
  const max = Number(f.max);
  return {
    q: f.q.trim() || undefined,
    subject: f.subject.trim() || undefined,
    max_rate_cents: f.max && Number.isFinite(max) && max > 0 ? Math.round(max * 100) : undefined,
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
    if (f.sort !== "rating") sp.set("sort", f.sort);
    const qs = sp.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    apply(draft);
  }

  const hasFilters = Boolean(applied.q || applied.subject || applied.max);

  return (
    <div>
      <Card className="!p-4 sm:!p-5">
        <form onSubmit={onSubmit} role="search" aria-label="Search tutors" className="grid gap-3 sm:grid-cols-2 lg:grid-cols-[2fr_1.5fr_1fr_1fr_auto] lg:items-end">
          <div>
            <label htmlFor="search-q" className="block text-xs font-semibold uppercase tracking-wide text-slate-500">
              Search
            </label>
            <input
              id="search-q"
              type="search"
              placeholder="Name, topic or exam…"
              value={draft.q}
              onChange={(e) => setDraft({ ...draft, q: e.target.value })}
              className={inputClass(false, "mt-1 h-11")}
            />
          </div>
          <div>
            <label htmlFor="search-subject" className="block text-xs font-semibold uppercase tracking-wide text-slate-500">
              Subject
            </label>
            <input
              id="search-subject"
              list="subject-options"
              placeholder="Any subject"
              value={draft.subject}
              onChange={(e) => setDraft({ ...draft, subject: e.target.value })}
              className={inputClass(false, "mt-1 h-11")}
              data-testid="filter-subject"
            />
            <datalist id="subject-options">
              {COMMON_SUBJECTS.map((s) => (
                <option key={s} value={s} />
              ))}
            </datalist>
          </div>
          <div>
            <label htmlFor="search-max" className="block text-xs font-semibold uppercase tracking-wide text-slate-500">
              Max price / hour
            </label>
            <input
              id="search-max"
              type="number"
              inputMode="decimal"
              min={0}
              step="any"
              placeholder="Any"
              value={draft.max}
              onChange={(e) => setDraft({ ...draft, max: e.target.value })}
              className={inputClass(false, "mt-1 h-11")}
              data-testid="filter-max-price"
            />
          </div>
          <div>
            <label htmlFor="search-sort" className="block text-xs font-semibold uppercase tracking-wide text-slate-500">
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
              className={inputClass(false, "mt-1 h-11")}
              data-testid="filter-sort"
            >
              <option value="rating">Top rated</option>
              <option value="price">Lowest price</option>
            </select>
          </div>
          <Button type="submit" className="h-11 sm:col-span-2 lg:col-span-1" data-testid="search-submit">
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
                <Button variant="secondary" onClick={() => apply({ q: "", subject: "", max: "", sort: applied.sort })}>
                  Clear filters
                </Button>
              ) : undefined
            }
          >
            {hasFilters
              ? "Try a different subject or a higher price limit."
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
        <Avatar name={tutor.name} />
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
