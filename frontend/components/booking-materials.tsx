"use client";

import { useCallback, useEffect, useRef, useState, type ChangeEvent } from "react";
import { api, errorMessage } from "@/lib/api";
import { fmtDateTime } from "@/lib/time";
import type { Booking, Material } from "@/lib/types";
import { useToast } from "./toast";
import { Alert, Button, Card, Skeleton } from "./ui";

type Load<T> = { state: "loading" } | { state: "ok"; value: T } | { state: "error"; message: string };

/** Files either party may share while the lesson is confirmed or done (`config.uploads` on). */
const SHARING = new Set<Booking["status"]>(["confirmed", "completed"]);

/**
 * A booking's lesson materials: the list with short-lived download links, "Share a file" for
 * the student and the tutor (a presigned form, then the file straight to the store), and
 * removing a file you shared.
 */
export function BookingMaterials({ booking, viewerId }: { booking: Booking; viewerId: string }) {
  const toast = useToast();
  const input = useRef<HTMLInputElement>(null);
  const [materials, setMaterials] = useState<Load<Material[]>>({ state: "loading" });
  const [busy, setBusy] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const page = await api.bookings.materials(booking.id, signal);
        setMaterials({ state: "ok", value: page.items });
      } catch (err) {
        if (!signal?.aborted) setMaterials({ state: "error", message: errorMessage(err) });
      }
    },
    [booking.id],
  );

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    return () => ac.abort();
  }, [load, booking.status]);

  async function onFile(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (!file) return;
    setBusy(true);
    try {
      const upload = await api.bookings.materialUpload(booking.id, {
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        size: file.size,
      });
      if (file.size > upload.max_bytes) {
        throw new Error(`The file is too large: at most ${Math.max(1, Math.floor(upload.max_bytes / 1_000_000))} MB.`);
      }
      const form = new FormData();
      for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
      form.append("file", file);
      const res = await fetch(upload.url, { method: "POST", body: form });
      if (!res.ok) throw new Error("The file could not be uploaded. Documents, images, audio and video are accepted.");
      await load();
      toast.push({ kind: "success", title: `Shared ${file.name}` });
    } catch (err) {
      toast.push({ kind: "error", title: "Couldn't share the file", body: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  }

  async function remove(m: Material) {
    setRemoving(m.id);
    try {
      await api.bookings.deleteMaterial(booking.id, m.id);
      await load();
      toast.push({ kind: "success", title: `Removed ${m.name}` });
    } catch (err) {
      toast.push({ kind: "error", title: "Couldn't remove the file", body: errorMessage(err) });
    } finally {
      setRemoving(null);
    }
  }

  const canShare = SHARING.has(booking.status);
  return (
    <Card className="mt-6" data-testid="booking-materials">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h2 className="text-base font-semibold text-slate-900">Lesson materials</h2>
        {canShare && (
          <div>
            <input ref={input} type="file" className="sr-only" onChange={onFile} aria-label="File to share" data-testid="material-file" />
            <Button variant="secondary" size="sm" loading={busy} onClick={() => input.current?.click()} data-testid="material-share">
              Share a file
            </Button>
          </div>
        )}
      </div>
      {materials.state === "loading" ? (
        <Skeleton className="mt-3 h-12 w-full" />
      ) : materials.state === "error" ? (
        <Alert kind="warning">{materials.message}</Alert>
      ) : materials.value.length === 0 ? (
        <p className="mt-3 text-sm text-slate-600">
          No materials shared yet.{canShare ? " Worksheets, notes and recordings you share appear here for both of you." : ""}
        </p>
      ) : (
        <ul className="mt-3 divide-y divide-slate-100 text-sm">
          {materials.value.map((m) => (
            <li key={m.key} className="flex items-center justify-between gap-3 py-2" data-testid="material" data-material-id={m.id}>
              <a href={m.download_url} className="font-medium text-indigo-600 hover:text-indigo-700" target="_blank" rel="noreferrer">
                {m.name}
              </a>
              <span className="flex items-center gap-3 text-xs text-slate-500">
                <span>
                  {Math.max(1, Math.round(m.size / 1024))} KB · {m.uploaded_by === viewerId ? "you" : booking.student_id === m.uploaded_by ? "the student" : "the tutor"} ·{" "}
                  {fmtDateTime(m.uploaded_at)}
                </span>
                {m.uploaded_by === viewerId && (
                  <Button variant="ghost" size="sm" loading={removing === m.id} onClick={() => void remove(m)} aria-label={`Remove ${m.name}`}>
                    Remove
                  </Button>
                )}
              </span>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
