"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "@/lib/api";
import { describeNotification } from "@/lib/notifications";
import { fmtDateTime } from "@/lib/time";
import type { Notification, Role } from "@/lib/types";
import { Icon } from "./icons";
import { useLiveEvent, useOnReconnect } from "./live";
import { RequireAuth } from "./require-auth";
import { useSession } from "./session";
import { Alert, buttonClass, cx, EmptyState, PageHeader, Spinner } from "./ui";

interface Feed {
  items: Notification[];
  unread: number;
  next: string | null;
  loading: boolean;
  error: string | null;
  loadMore: () => Promise<void>;
  markRead: (ids: string[] | "all") => Promise<void>;
}

/**
 * The signed-in user's notifications, kept in step with `/live`: `notification.new` adds one
 * (the stored copy of an event that just arrived), `notifications.read` (another tab) marks
 * them read, and a reconnect reloads the first page in case something was missed meanwhile.
 */
function useNotificationFeed(enabled: boolean, opts: { unread?: boolean; limit?: number } = {}): Feed {
  const [items, setItems] = useState<Notification[]>([]);
  const [unread, setUnread] = useState(0);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { unread: unreadOnly, limit } = opts;

  const reload = useCallback(async () => {
    if (!enabled) return;
    setLoading(true);
    try {
      const page = await api.notifications.list({ unread: unreadOnly, limit });
      setItems(page.items);
      setNext(page.next_cursor ?? null);
      setUnread(page.unread_count);
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : "Could not load notifications.");
    } finally {
      setLoading(false);
    }
  }, [enabled, unreadOnly, limit]);

  useEffect(() => {
    void reload();
  }, [reload]);
  useOnReconnect(() => void reload());

  useLiveEvent("notification.new", ({ notification }) => {
    if (!enabled) return;
    setItems((prev) => (prev.some((n) => n.id === notification.id) ? prev : [notification, ...prev]));
    setUnread((u) => u + 1);
  });
  useLiveEvent("notifications.read", ({ ids, unread_count }) => {
    const now = new Date().toISOString();
    const marked = new Set(ids);
    setItems((prev) => prev.map((n) => (marked.has(n.id) && !n.read_at ? { ...n, read_at: now } : n)));
    setUnread(unread_count);
  });

  const loadMore = useCallback(async () => {
    if (!next) return;
    setLoading(true);
    try {
      const page = await api.notifications.list({ unread: unreadOnly, limit, cursor: next });
      setItems((prev) => [...prev, ...page.items.filter((n) => !prev.some((p) => p.id === n.id))]);
      setNext(page.next_cursor ?? null);
      setUnread(page.unread_count);
    } catch (e) {
      setError(e instanceof Error ? e.message : "Could not load notifications.");
    } finally {
      setLoading(false);
    }
  }, [next, unreadOnly, limit]);

  const markRead = useCallback(async (ids: string[] | "all") => {
    if (ids !== "all" && ids.length === 0) return;
    try {
      const out = await api.notifications.markRead(ids === "all" ? { all: true } : { ids });
      const now = new Date().toISOString();
      const marked = new Set(out.marked);
      setItems((prev) => prev.map((n) => (marked.has(n.id) && !n.read_at ? { ...n, read_at: now } : n)));
      setUnread(out.unread_count);
    } catch (e) {
      setError(e instanceof Error ? e.message : "Could not mark notifications read.");
    }
  }, []);

  return { items, unread, next, loading, error, loadMore, markRead };
}

function NotificationRow({ n, role, onOpen }: { n: Notification; role: Role | undefined; onOpen: (n: Notification) => void }) {
  const text = describeNotification(n, role);
  return (
    <li>
      <button
        type="button"
        data-testid="notification-item"
        data-kind={n.kind}
        data-unread={n.read_at ? "false" : "true"}
        onClick={() => onOpen(n)}
        className={cx(
          "flex w-full items-start gap-3 rounded-xl px-3 py-2.5 text-left hover:bg-slate-50",
          !n.read_at && "bg-indigo-50/60",
        )}
      >
        <span
          aria-hidden="true"
          className={cx("mt-1.5 h-2 w-2 shrink-0 rounded-full", n.read_at ? "bg-transparent" : "bg-indigo-500")}
        />
        <span className="min-w-0 flex-1">
          <span className="block text-sm font-semibold text-slate-900">{text.title}</span>
          {text.body && <span className="block truncate text-sm text-slate-600">{text.body}</span>}
          <span className="block text-xs text-slate-400">{fmtDateTime(n.created_at)}</span>
        </span>
        {!n.read_at && <span className="sr-only">(unread)</span>}
      </button>
    </li>
  );
}

function useOpen(markRead: Feed["markRead"], role: Role | undefined, after?: () => void) {
  const router = useRouter();
  return (n: Notification) => {
    if (!n.read_at) void markRead([n.id]);
    const href = describeNotification(n, role).href;
    after?.();
    if (href) router.push(href);
  };
}

/** The bell in the header: unread count, the latest notifications, mark read. */
export function NotificationBell() {
  const { user } = useSession();
  const [open, setOpen] = useState(false);
  const feed = useNotificationFeed(Boolean(user), { limit: 8 });
  const box = useRef<HTMLDivElement>(null);
  const openOne = useOpen(feed.markRead, user?.role, () => setOpen(false));

  useEffect(() => {
    if (!open) return;
    const onClick = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", onClick);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onClick);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  if (!user) return null;
  return (
    <div className="relative" ref={box}>
      <button
        type="button"
        data-testid="notification-bell"
        aria-expanded={open}
        aria-controls="notification-panel"
        aria-label={feed.unread ? `Notifications, ${feed.unread} unread` : "Notifications"}
        onClick={() => setOpen((o) => !o)}
        className="relative rounded-lg p-2 text-slate-600 hover:bg-slate-100 hover:text-slate-900"
      >
        <Icon name="bell" className="h-6 w-6" />
        {feed.unread > 0 && (
          <span
            data-testid="notification-count"
            className="absolute -right-0.5 -top-0.5 flex h-5 min-w-5 items-center justify-center rounded-full bg-rose-500 px-1 text-xs font-bold text-white ring-2 ring-white"
          >
            {feed.unread > 99 ? "99+" : feed.unread}
          </span>
        )}
      </button>
      {open && (
        <div
          id="notification-panel"
          data-testid="notification-panel"
          className="absolute right-0 z-40 mt-2 w-[22rem] max-w-[calc(100vw-2rem)] rounded-2xl bg-white p-2 shadow-xl ring-1 ring-slate-200"
        >
          <div className="flex items-center justify-between px-3 py-2">
            <span className="text-sm font-semibold text-slate-900">Notifications</span>
            <button
              type="button"
              data-testid="notification-read-all"
              disabled={feed.unread === 0}
              onClick={() => void feed.markRead("all")}
              className="text-xs font-medium text-indigo-600 hover:text-indigo-800 disabled:text-slate-300"
            >
              Mark all read
            </button>
          </div>
          {feed.items.length === 0 ? (
            <p className="px-3 py-6 text-center text-sm text-slate-500">
              {feed.loading ? "Loading…" : "Nothing yet. Bookings, messages and reminders show up here."}
            </p>
          ) : (
            <ul className="max-h-96 overflow-y-auto">
              {feed.items.map((n) => (
                <NotificationRow key={n.id} n={n} role={user.role} onOpen={openOne} />
              ))}
            </ul>
          )}
          <div className="border-t border-slate-100 px-3 pt-2 pb-1 text-right">
            <Link href="/notifications" onClick={() => setOpen(false)} className="text-sm font-medium text-indigo-600 hover:text-indigo-800">
              See all
            </Link>
          </div>
        </div>
      )}
    </div>
  );
}

function NotificationsList({ role }: { role: Role }) {
  const [unreadOnly, setUnreadOnly] = useState(false);
  const feed = useNotificationFeed(true, { unread: unreadOnly, limit: 20 });
  const openOne = useOpen(feed.markRead, role);
  return (
    <div className="space-y-4">
      <PageHeader
        title="Notifications"
        subtitle={feed.unread ? `${feed.unread} unread` : "You're all caught up."}
        actions={
          <div className="flex gap-2">
            <button
              type="button"
              className={buttonClass("secondary", "sm")}
              aria-pressed={unreadOnly}
              onClick={() => setUnreadOnly((u) => !u)}
              data-testid="notification-filter-unread"
            >
              {unreadOnly ? "Show all" : "Unread only"}
            </button>
            <button
              type="button"
              className={buttonClass("primary", "sm")}
              disabled={feed.unread === 0}
              onClick={() => void feed.markRead("all")}
              data-testid="notification-page-read-all"
            >
              Mark all read
            </button>
          </div>
        }
      />
      {feed.error && <Alert kind="error">{feed.error}</Alert>}
      {feed.items.length === 0 && !feed.loading ? (
        <EmptyState icon="bell" title={unreadOnly ? "No unread notifications" : "No notifications yet"}>
          Bookings, reminders, messages, reviews and payouts show up here, even when you were away.
        </EmptyState>
      ) : (
        <ul className="divide-y divide-slate-100 rounded-2xl bg-white p-2 shadow-sm ring-1 ring-slate-200/80" data-testid="notification-list">
          {feed.items.map((n) => (
            <NotificationRow key={n.id} n={n} role={role} onOpen={openOne} />
          ))}
        </ul>
      )}
      {feed.next && (
        <div className="text-center">
          <button type="button" className={buttonClass("secondary")} onClick={() => void feed.loadMore()} disabled={feed.loading}>
            {feed.loading ? <Spinner /> : "Load more"}
          </button>
        </div>
      )}
    </div>
  );
}

/** `/notifications`: everything, newest first, with an unread filter. */
export function NotificationsPage() {
  return <RequireAuth>{(user) => <NotificationsList role={user.role} />}</RequireAuth>;
}
