"use client";

import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { api, ApiError } from "@/lib/api";
import { fmtDateTime } from "@/lib/time";
import type { Conversation, Message, User } from "@/lib/types";
import { useLiveEvent, useOnReconnect } from "./live";
import { RequireAuth } from "./require-auth";
import { useSession } from "./session";
import { Alert, Avatar, Badge, Button, cx, EmptyState, PageHeader, Skeleton } from "./ui";

export const MAX_MESSAGE = 4000;

/**
 * The signed-in user's unread message count, kept live: `message.new` to this user adds one,
 * `message.read` by this user (this tab or another) and a reconnect reload it from the API.
 */
export function useUnreadMessages(enabled: boolean): number {
  const { user } = useSession();
  const [unread, setUnread] = useState(0);
  const reload = useCallback(async () => {
    if (!enabled) return;
    try {
      setUnread((await api.messages.conversations({ limit: 1 })).unread_total);
    } catch {
      // The badge is a hint; the messages page shows errors.
    }
  }, [enabled]);
  useEffect(() => {
    void reload();
  }, [reload]);
  useOnReconnect(() => void reload());
  useLiveEvent("message.new", ({ message }) => {
    if (enabled && user && message.to_user_id === user.id) setUnread((u) => u + 1);
  });
  useLiveEvent("message.read", ({ reader_id }) => {
    if (user && reader_id === user.id) void reload();
  });
  return unread;
}

/** The header's "Messages" link with its live unread badge. */
export function MessagesLink({ active, className }: { active: boolean; className?: string }) {
  const { user } = useSession();
  const unread = useUnreadMessages(Boolean(user));
  if (!user) return null;
  return (
    <Link
      href="/messages"
      data-testid="messages-link"
      aria-current={active ? "page" : undefined}
      aria-label={unread ? `Messages, ${unread} unread` : "Messages"}
      className={cx(
        "relative rounded-lg px-3 py-2 text-sm font-medium",
        active ? "bg-indigo-50 text-indigo-700" : "text-slate-600 hover:bg-slate-100 hover:text-slate-900",
        className,
      )}
    >
      Messages
      {unread > 0 && (
        <span
          data-testid="messages-unread"
          className="ml-1.5 inline-flex h-5 min-w-5 items-center justify-center rounded-full bg-rose-500 px-1 text-xs font-bold text-white"
        >
          {unread > 99 ? "99+" : unread}
        </span>
      )}
    </Link>
  );
}

function errorText(e: unknown, fallback: string): string {
  return e instanceof Error && e.message ? e.message : fallback;
}

function upsertConversation(list: Conversation[], c: Conversation): Conversation[] {
  return [c, ...list.filter((x) => x.id !== c.id)];
}

function ConversationList({
  items,
  selected,
  onSelect,
}: {
  items: Conversation[];
  selected: string | null;
  onSelect: (c: Conversation) => void;
}) {
  return (
    <ul className="divide-y divide-slate-100" data-testid="conversation-list">
      {items.map((c) => (
        <li key={c.id}>
          <button
            type="button"
            data-testid="conversation-item"
            data-conversation-id={c.id}
            data-unread={c.unread}
            aria-current={c.id === selected ? "true" : undefined}
            onClick={() => onSelect(c)}
            className={cx(
              "flex w-full items-center gap-3 px-3 py-3 text-left hover:bg-slate-50",
              c.id === selected && "bg-indigo-50/70",
            )}
          >
            <Avatar name={c.other_user.name} size="sm" />
            <span className="min-w-0 flex-1">
              <span className="flex items-center gap-2">
                <span className="truncate text-sm font-semibold text-slate-900">{c.other_user.name}</span>
                <Badge color={c.other_user.role === "tutor" ? "indigo" : "sky"}>{c.other_user.role}</Badge>
              </span>
              <span className="block truncate text-sm text-slate-600">{c.last_message?.body ?? ""}</span>
            </span>
            {c.unread > 0 && (
              <span
                data-testid="conversation-unread"
                className="flex h-5 min-w-5 items-center justify-center rounded-full bg-rose-500 px-1 text-xs font-bold text-white"
              >
                {c.unread}
                <span className="sr-only"> unread</span>
              </span>
            )}
          </button>
        </li>
      ))}
    </ul>
  );
}

function Composer({ onSend, disabled }: { onSend: (body: string) => Promise<boolean>; disabled?: boolean }) {
  const [body, setBody] = useState("");
  const [sending, setSending] = useState(false);
  const length = body.trim().length;
  const tooLong = body.length > MAX_MESSAGE;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!length || tooLong || sending) return;
    setSending(true);
    try {
      if (await onSend(body.trim())) setBody("");
    } finally {
      setSending(false);
    }
  }

  return (
    <form onSubmit={submit} className="border-t border-slate-100 p-3" data-testid="message-composer">
      <label htmlFor="message-body" className="sr-only">
        Your message
      </label>
      <textarea
        id="message-body"
        data-testid="message-input"
        rows={3}
        maxLength={MAX_MESSAGE}
        value={body}
        disabled={disabled}
        onChange={(e) => setBody(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void submit(e);
        }}
        placeholder="Write a message…"
        className="block w-full resize-y rounded-xl border-0 px-3 py-2 text-sm text-slate-900 ring-1 ring-inset ring-slate-300 focus:ring-2 focus:ring-indigo-500"
      />
      <div className="mt-2 flex items-center justify-between gap-3">
        <span
          data-testid="message-counter"
          aria-live="polite"
          className={cx("text-xs tabular-nums", body.length > MAX_MESSAGE - 200 ? "text-amber-700" : "text-slate-500")}
        >
          {body.length} / {MAX_MESSAGE}
        </span>
        <Button type="submit" size="sm" loading={sending} disabled={!length || tooLong || disabled} data-testid="message-send">
          Send
        </Button>
      </div>
    </form>
  );
}

function Thread({
  me,
  conversationId,
  other,
  seenFromList,
  onSent,
}: {
  me: User;
  conversationId: string | null;
  other: { id: string; name: string };
  /** The receipt as the conversation list last had it (live `message.read` events move it on). */
  seenFromList: string | null;
  onSent: (m: Message) => void;
}) {
  const [messages, setMessages] = useState<Message[]>([]);
  const [older, setOlder] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [seenUpTo, setSeenUpTo] = useState<string | null>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const lastRead = useRef<string | null>(null);

  const load = useCallback(async () => {
    if (!conversationId) {
      setMessages([]);
      setOlder(null);
      return;
    }
    setLoading(true);
    try {
      const page = await api.messages.thread(conversationId, { limit: 30 });
      setMessages([...page.items].reverse());
      setOlder(page.next_cursor ?? null);
      setError(null);
    } catch (e) {
      setError(errorText(e, "Could not load the messages."));
    } finally {
      setLoading(false);
    }
  }, [conversationId]);

  useEffect(() => {
    lastRead.current = null;
    setSeenUpTo(null);
    void load();
  }, [load]);
  useOnReconnect(() => void load());

  // Mark read whatever the other user wrote that is now on screen.
  useEffect(() => {
    if (!conversationId) return;
    const latest = [...messages].reverse().find((m) => m.from_user_id !== me.id);
    if (!latest || lastRead.current === latest.id) return;
    lastRead.current = latest.id;
    void api.messages.markRead(conversationId, latest.id).catch(() => undefined);
  }, [messages, conversationId, me.id]);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [messages.length]);

  useLiveEvent("message.new", ({ message }) => {
    if (message.conversation_id !== conversationId) return;
    setMessages((prev) => (prev.some((m) => m.id === message.id) ? prev : [...prev, message]));
  });
  useLiveEvent("message.read", (ev) => {
    if (ev.conversation_id === conversationId && ev.reader_id !== me.id) setSeenUpTo(ev.up_to_message_id);
  });

  async function loadOlder() {
    if (!conversationId || !older) return;
    setLoading(true);
    try {
      const page = await api.messages.thread(conversationId, { limit: 30, cursor: older });
      setMessages((prev) => [...[...page.items].reverse().filter((m) => !prev.some((p) => p.id === m.id)), ...prev]);
      setOlder(page.next_cursor ?? null);
    } catch (e) {
      setError(errorText(e, "Could not load older messages."));
    } finally {
      setLoading(false);
    }
  }

  async function send(body: string): Promise<boolean> {
    try {
      const message = await api.messages.send(other.id, body);
      setMessages((prev) => (prev.some((m) => m.id === message.id) ? prev : [...prev, message]));
      setError(null);
      onSent(message);
      return true;
    } catch (e) {
      setError(e instanceof ApiError ? e.message : errorText(e, "Your message was not sent."));
      return false;
    }
  }

  const seenIndex = Math.max(
    ...[seenUpTo, seenFromList].map((id) => (id ? messages.findIndex((m) => m.id === id) : -1)),
  );
  const lastMine = messages.map((m, i) => (m.from_user_id === me.id ? i : -1)).reduce((a, b) => Math.max(a, b), -1);

  return (
    <section aria-label={`Conversation with ${other.name}`} className="flex min-h-[28rem] flex-col" data-testid="thread">
      <header className="flex items-center gap-3 border-b border-slate-100 px-4 py-3">
        <Avatar name={other.name} size="sm" />
        <h2 className="text-base font-semibold text-slate-900" data-testid="thread-title">
          {other.name}
        </h2>
      </header>
      <div className="flex-1 space-y-2 overflow-y-auto px-4 py-3" data-testid="thread-messages" aria-live="polite">
        {older && (
          <div className="text-center">
            <Button variant="ghost" size="sm" onClick={() => void loadOlder()} loading={loading}>
              Load older messages
            </Button>
          </div>
        )}
        {messages.length === 0 && !loading && (
          <p className="py-10 text-center text-sm text-slate-500">No messages yet. Say hello to {other.name}!</p>
        )}
        {messages.map((m, i) => {
          const mine = m.from_user_id === me.id;
          return (
            <div key={m.id} className={cx("flex flex-col", mine ? "items-end" : "items-start")}>
              <p
                data-testid="message"
                data-mine={mine ? "true" : "false"}
                className={cx(
                  "max-w-[80%] whitespace-pre-wrap break-words rounded-2xl px-3 py-2 text-sm",
                  mine ? "bg-indigo-600 text-white" : "bg-slate-100 text-slate-900",
                )}
              >
                {m.body}
              </p>
              <span className="mt-0.5 text-[11px] text-slate-400">
                {fmtDateTime(m.sent_at)}
                {i === lastMine && seenIndex >= i && (
                  <span data-testid="message-seen" className="ml-1 text-indigo-500">
                    · Seen
                  </span>
                )}
              </span>
            </div>
          );
        })}
        <div ref={bottom} />
      </div>
      {error && (
        <div className="px-3">
          <Alert kind="error">{error}</Alert>
        </div>
      )}
      <Composer onSend={send} />
    </section>
  );
}

function MessagesView({ me }: { me: User }) {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const [items, setItems] = useState<Conversation[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const selectedId = params.get("c");
  const toId = params.get("to");
  const toName = params.get("name");

  const reload = useCallback(async () => {
    try {
      const page = await api.messages.conversations({ limit: 50 });
      setItems(page.items);
      setNext(page.next_cursor ?? null);
      setError(null);
    } catch (e) {
      setError(errorText(e, "Could not load your conversations."));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);
  useOnReconnect(() => void reload());

  useLiveEvent("message.new", ({ message }) => {
    setItems((prev) => {
      if (!prev) return prev;
      const found = prev.find((c) => c.id === message.conversation_id);
      if (!found) {
        void reload();
        return prev;
      }
      const toMe = message.to_user_id === me.id && message.conversation_id !== selectedId;
      return upsertConversation(prev, { ...found, last_message: message, unread: found.unread + (toMe ? 1 : 0) });
    });
  });
  useLiveEvent("message.read", (ev) => {
    if (ev.reader_id !== me.id) return;
    setItems((prev) => prev && prev.map((c) => (c.id === ev.conversation_id ? { ...c, unread: 0 } : c)));
  });

  async function loadMore() {
    if (!next) return;
    try {
      const page = await api.messages.conversations({ limit: 50, cursor: next });
      setItems((prev) => [...(prev ?? []), ...page.items.filter((c) => !(prev ?? []).some((p) => p.id === c.id))]);
      setNext(page.next_cursor ?? null);
    } catch (e) {
      setError(errorText(e, "Could not load more conversations."));
    }
  }

  // `?to=<user id>` opens the conversation with that user, or a new one.
  const existing = toId ? items?.find((c) => c.other_user.id === toId) : undefined;
  useEffect(() => {
    if (existing && existing.id !== selectedId) router.replace(`${pathname}?c=${encodeURIComponent(existing.id)}`);
  }, [existing, selectedId, router, pathname]);

  const selected = items?.find((c) => c.id === selectedId) ?? existing ?? null;
  const other = selected
    ? { id: selected.other_user.id, name: selected.other_user.name }
    : toId && items
      ? { id: toId, name: toName || "New conversation" }
      : null;

  function select(c: Conversation) {
    setItems((prev) => prev && prev.map((x) => (x.id === c.id ? { ...x, unread: 0 } : x)));
    router.replace(`${pathname}?c=${encodeURIComponent(c.id)}`);
  }

  function onSent(m: Message) {
    if (m.conversation_id !== selectedId) router.replace(`${pathname}?c=${encodeURIComponent(m.conversation_id)}`);
    void reload();
  }

  return (
    <div className="space-y-4">
      <PageHeader title="Messages" subtitle="Write to your tutors and students. New messages arrive live." />
      {error && <Alert kind="error">{error}</Alert>}
      {items === null ? (
        <Skeleton className="h-96 w-full rounded-2xl" />
      ) : items.length === 0 && !other ? (
        <EmptyState icon="inbox" title="No conversations yet">
          {me.role === "student"
            ? "Open a tutor's page and press “Message tutor” to ask them a question."
            : "Students who book you or write to you show up here; write to them from your sessions."}
        </EmptyState>
      ) : (
        <div className="grid overflow-hidden rounded-2xl bg-white shadow-sm ring-1 ring-slate-200/80 md:grid-cols-[18rem_minmax(0,1fr)]">
          <div className="border-b border-slate-100 md:border-r md:border-b-0">
            <ConversationList items={items} selected={selected?.id ?? null} onSelect={select} />
            {next && (
              <div className="p-2 text-center">
                <Button variant="ghost" size="sm" onClick={() => void loadMore()}>
                  Load more
                </Button>
              </div>
            )}
          </div>
          {other ? (
            <Thread
              key={selected?.id ?? `to:${other.id}`}
              me={me}
              conversationId={selected?.id ?? null}
              other={other}
              seenFromList={selected?.other_read_up_to_message_id ?? null}
              onSent={onSent}
            />
          ) : (
            <p className="p-10 text-center text-sm text-slate-500">Pick a conversation.</p>
          )}
        </div>
      )}
    </div>
  );
}

/** `/messages`: conversations with unread counts, the open thread (newest at the bottom) and a composer. */
export function MessagesPage() {
  return <RequireAuth>{(user) => <MessagesView me={user} />}</RequireAuth>;
}

/** A link that opens (or starts) the conversation with `userId`. */
export function messageHref(userId: string, name?: string | null): string {
  return `/messages?to=${encodeURIComponent(userId)}${name ? `&name=${encodeURIComponent(name)}` : ""}`;
}
