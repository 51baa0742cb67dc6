"use client";

import Link from "next/link";
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";

export type ToastKind = "info" | "success" | "warning" | "error";

export interface ToastInput {
  kind?: ToastKind;
  title: string;
  body?: string;
  action?: { label: string; href: string };
  /** A second toast with the same key within 15 s is dropped (one event, two sources). */
  dedupeKey?: string;
  /** Milliseconds on screen; 0 keeps it until dismissed. */
  duration?: number;
}

interface Toast extends ToastInput {
  id: number;
  kind: ToastKind;
}

interface ToastApi {
  push: (t: ToastInput) => number;
  dismiss: (id: number) => void;
}

const ToastContext = createContext<ToastApi | null>(null);

export function useToast(): ToastApi {
  const ctx = useContext(ToastContext);
  if (!ctx) throw new Error("useToast outside ToastProvider");
  return ctx;
}

const STYLES: Record<ToastKind, { ring: string; dot: string; icon: string }> = {
  info: { ring: "ring-sky-200", dot: "bg-sky-500", icon: "i" },
  success: { ring: "ring-emerald-200", dot: "bg-emerald-500", icon: "✓" },
  warning: { ring: "ring-amber-200", dot: "bg-amber-500", icon: "!" },
  error: { ring: "ring-rose-200", dot: "bg-rose-500", icon: "!" },
};

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);
  const recent = useRef(new Map<string, number>());

  const dismiss = useCallback((id: number) => {
    setToasts((ts) => ts.filter((t) => t.id !== id));
  }, []);

  const push = useCallback(
    (input: ToastInput) => {
      const id = nextId.current++;
      if (input.dedupeKey) {
        const now = Date.now();
        for (const [k, t] of recent.current) if (now - t > 15_000) recent.current.delete(k);
        if (recent.current.has(input.dedupeKey)) return -1;
        recent.current.set(input.dedupeKey, now);
      }
      const kind = input.kind ?? "info";
      setToasts((ts) => [...ts.slice(-4), { ...input, id, kind }]);
      const duration = input.duration ?? (kind === "error" ? 9000 : 6000);
      if (duration > 0) setTimeout(() => dismiss(id), duration);
      return id;
    },
    [dismiss],
  );

  const value = useMemo(() => ({ push, dismiss }), [push, dismiss]);

  return (
    <ToastContext.Provider value={value}>
      {children}
      <section
        aria-label="Notifications"
        aria-live="polite"
        className="pointer-events-none fixed inset-x-0 bottom-0 z-50 flex flex-col items-center gap-2 p-4 sm:items-end"
      >
        {toasts.map((t) => {
          const s = STYLES[t.kind];
          return (
            <div
              key={t.id}
              data-testid="toast"
              data-kind={t.kind}
              role={t.kind === "error" ? "alert" : "status"}
              className={`toast-in pointer-events-auto flex w-full max-w-sm items-start gap-3 rounded-2xl bg-white p-4 shadow-lg ring-1 ${s.ring}`}
            >
              <span
                aria-hidden="true"
                className={`mt-0.5 flex h-6 w-6 shrink-0 items-center justify-center rounded-full text-xs font-bold text-white ${s.dot}`}
              >
                {s.icon}
              </span>
              <div className="min-w-0 flex-1">
                <p className="text-sm font-semibold text-slate-900">{t.title}</p>
                {t.body && <p className="mt-0.5 text-sm text-slate-600">{t.body}</p>}
                {t.action && (
                  <Link
                    href={t.action.href}
                    className="mt-1 inline-block text-sm font-semibold text-indigo-600 hover:text-indigo-700"
                    onClick={() => dismiss(t.id)}
                  >
                    {t.action.label} →
                  </Link>
                )}
              </div>
              <button
                type="button"
                onClick={() => dismiss(t.id)}
                aria-label="Dismiss notification"
                className="rounded-lg p-1 text-slate-400 hover:bg-slate-100 hover:text-slate-600"
              >
                <span aria-hidden="true">✕</span>
              </button>
            </div>
          );
        })}
      </section>
    </ToastContext.Provider>
  );
}
