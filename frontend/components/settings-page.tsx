"use client";

import { useCallback, useEffect, useMemo, useRef, useState, type ChangeEvent, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { fmtDateTime, userTimeZone } from "@/lib/time";
import { timeZones, zoneLabel } from "@/lib/timezones";
import type { CalendarStatus, User } from "@/lib/types";
import { RequireAuth } from "./require-auth";
import { usePublicConfig, useSession } from "./session";
import { useToast } from "./toast";
import { Alert, Avatar, Badge, Button, buttonClass, Card, PageHeader, Select, Skeleton, TextInput } from "./ui";

export const NAME_MAX = 200;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;
const AVATAR_TYPES = ["image/jpeg", "image/png", "image/webp"];

export function SettingsPage() {
  return <RequireAuth>{(user) => <Settings user={user} />}</RequireAuth>;
}

function Settings({ user }: { user: User }) {
  return (
    <div className="mx-auto max-w-3xl">
      <PageHeader title="Account settings" subtitle="Your name, time zone, password and connected calendar." />
      <div className="space-y-6">
        <ProfileSection user={user} />
        <EmailSection user={user} />
        <PasswordSection />
        <CalendarSection user={user} />
      </div>
    </div>
  );
}

function Section({ title, subtitle, children, testId }: { title: string; subtitle?: string; children: React.ReactNode; testId: string }) {
  return (
    <Card data-testid={testId}>
      <h2 className="text-lg font-semibold text-slate-900">{title}</h2>
      {subtitle && <p className="mt-0.5 text-sm text-slate-600">{subtitle}</p>}
      <div className="mt-4">{children}</div>
    </Card>
  );
}

// ---- name, time zone, avatar ------------------------------------------------------

function ProfileSection({ user }: { user: User }) {
  const { setUser } = useSession();
  const toast = useToast();
  const browserZone = useMemo(() => userTimeZone(), []);
  // A never-chosen zone (accounts start at UTC) gets the browser's preselected, to be saved.
  const suggested = user.timezone === "UTC" && browserZone !== "UTC" ? browserZone : user.timezone;
  const [name, setName] = useState(user.name);
  const [zone, setZone] = useState(suggested);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const zones = useMemo(() => {
    const now = new Date();
    return timeZones(user.timezone, browserZone).map((z) => ({ value: z, label: zoneLabel(z, now) }));
  }, [user.timezone, browserZone]);

  const trimmed = name.trim();
  const dirty = trimmed !== user.name || zone !== user.timezone;

  function check(): Record<string, string> {
    const fe: Record<string, string> = {};
    if (!trimmed) fe.name = "Please enter your name.";
    else if (trimmed.length > NAME_MAX) fe.name = `Your name can be at most ${NAME_MAX} characters (now ${trimmed.length}).`;
    return fe;
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const fe = check();
    setFieldErrors(fe);
    if (Object.keys(fe).length) return;
    const body: { name?: string; timezone?: string } = {};
    if (trimmed !== user.name) body.name = trimmed;
    if (zone !== user.timezone) body.timezone = zone;
    if (!Object.keys(body).length) return;
    setBusy(true);
    try {
      const updated = await api.updateMe(body);
      setUser(updated);
      setName(updated.name);
      setZone(updated.timezone);
      toast.push({ kind: "success", title: "Settings saved" });
    } catch (err) {
      if (err instanceof ApiError) setFieldErrors(err.fieldErrors());
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title="Profile" subtitle="How you appear to tutors and students, and the zone of your e-mails and reminders." testId="settings-profile">
      <form onSubmit={onSubmit} noValidate className="space-y-4" data-testid="account-form" aria-label="Profile">
        {error && <Alert title="Couldn't save your settings">{error}</Alert>}
        <AvatarRow user={user} name={trimmed || user.name} />
        <TextInput
          label="Display name"
          name="name"
          autoComplete="name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldErrors.name}
          hint={`${trimmed.length}/${NAME_MAX} characters`}
        />
        <Select
          label="Time zone"
          name="timezone"
          value={zone}
          onChange={(e) => setZone(e.target.value)}
          error={fieldErrors.timezone}
          hint={
            zone === browserZone
              ? user.timezone === zone
                ? "This is your browser's time zone."
                : `Your browser's time zone. Your account still uses ${user.timezone.replace(/_/g, " ")}: save to switch.`
              : `Your browser is set to ${browserZone.replace(/_/g, " ")}.`
          }
          data-testid="timezone-select"
        >
          {zones.map((z) => (
            <option key={z.value} value={z.value}>
              {z.label}
            </option>
          ))}
        </Select>
        {zone !== browserZone && (
          <button type="button" className="text-sm font-medium text-indigo-600 hover:text-indigo-700" onClick={() => setZone(browserZone)}>
            Use my browser&apos;s time zone
          </button>
        )}
        <div className="flex items-center gap-3">
          <Button type="submit" loading={busy} disabled={!dirty} data-testid="account-save">
            Save changes
          </Button>
          {dirty && !busy && <span className="text-xs text-slate-500">You have unsaved changes.</span>}
        </div>
      </form>
    </Section>
  );
}

function AvatarRow({ user, name }: { user: User; name: string }) {
  const config = usePublicConfig();
  const toast = useToast();
  const input = useRef<HTMLInputElement>(null);
  const [version, setVersion] = useState(0);
  const [busy, setBusy] = useState(false);
  const canUpload = user.role === "tutor" && Boolean(config?.uploads);
  const src = canUpload ? `${api.tutors.avatarUrl(user.id)}${version ? `?v=${version}` : ""}` : null;

  async function onFile(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (!file) return;
    if (!AVATAR_TYPES.includes(file.type)) {
      toast.push({ kind: "error", title: "Choose a JPEG, PNG or WebP image" });
      return;
    }
    setBusy(true);
    try {
      const upload = await api.tutors.avatarUpload({ content_type: file.type, size: file.size });
      if (file.size > upload.max_bytes) {
        throw new Error(`The image is too large: at most ${Math.floor(upload.max_bytes / 1_000_000)} MB.`);
      }
      const form = new FormData();
      for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
      form.append("file", file);
      const res = await fetch(upload.url, { method: "POST", body: form });
      if (!res.ok) throw new Error("The image could not be uploaded. Try a smaller JPEG, PNG or WebP file.");
      await api.tutors.putAvatar(upload.key);
      setVersion(Date.now());
      toast.push({ kind: "success", title: "Photo updated" });
    } catch (err) {
      toast.push({ kind: "error", title: "Couldn't change your photo", body: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="flex items-center gap-4">
      <Avatar name={name} size="lg" src={src} key={src ?? "initials"} />
      {canUpload ? (
        <div>
          <input ref={input} type="file" accept={AVATAR_TYPES.join(",")} className="sr-only" onChange={onFile} aria-label="Profile photo" data-testid="avatar-file" />
          <Button variant="secondary" size="sm" loading={busy} onClick={() => input.current?.click()}>
            Change photo
          </Button>
          <p className="mt-1 text-xs text-slate-500">JPEG, PNG or WebP. Shown on your tutor page.</p>
        </div>
      ) : (
        <p className="text-sm text-slate-500">Your initials are shown next to your name.</p>
      )}
    </div>
  );
}

// ---- e-mail verification ----------------------------------------------------------

function EmailSection({ user }: { user: User }) {
  const { reload } = useSession();
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<{ kind: "success" | "error" | "info"; text: string } | null>(null);

  async function resend() {
    setBusy(true);
    setNote(null);
    try {
      await api.auth.resendVerification();
      setNote({ kind: "success", text: `We sent a new link to ${user.email}. It may take a minute to arrive.` });
    } catch (err) {
      if (err instanceof ApiError && err.code === "email_already_verified") {
        setNote({ kind: "info", text: "Your e-mail address is already verified." });
        void reload();
      } else if (err instanceof ApiError && err.code === "verification_resend_too_soon") {
        const wait = err.retryAfter ? ` Try again in ${Math.ceil(err.retryAfter / 60)} minute${err.retryAfter > 60 ? "s" : ""}.` : "";
        setNote({ kind: "info", text: `We sent you a link a moment ago; please check your inbox.${wait}` });
      } else {
        setNote({ kind: "error", text: errorMessage(err) });
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title="E-mail" testId="settings-email">
      <div className="flex flex-wrap items-center gap-3">
        <span className="font-medium text-slate-900">{user.email}</span>
        {user.email_verified ? (
          <Badge color="green">
            <span data-testid="email-verified">Verified</span>
          </Badge>
        ) : (
          <Badge color="amber">
            <span data-testid="email-unverified">Not verified</span>
          </Badge>
        )}
      </div>
      {!user.email_verified && (
        <div className="mt-3 space-y-3">
          <p className="text-sm text-slate-600">Open the link we e-mailed you to confirm this address. Lost it?</p>
          <Button variant="secondary" size="sm" loading={busy} onClick={resend} data-testid="resend-verification">
            Resend the link
          </Button>
        </div>
      )}
      {note && (
        <div className="mt-3">
          <Alert kind={note.kind} testId="email-note">
            {note.text}
          </Alert>
        </div>
      )}
    </Section>
  );
}

// ---- password ---------------------------------------------------------------------

function PasswordSection() {
  const toast = useToast();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [done, setDone] = useState(false);

  function check(): Record<string, string> {
    const fe: Record<string, string> = {};
    if (!current) fe.current_password = "Enter your current password.";
    if (next.length < PASSWORD_MIN) fe.new_password = `Your new password needs at least ${PASSWORD_MIN} characters.`;
    else if (next.length > PASSWORD_MAX) fe.new_password = `Your new password can be at most ${PASSWORD_MAX} characters.`;
    else if (next === current) fe.new_password = "Choose a password different from the current one.";
    if (confirm !== next) fe.confirm = "The two new passwords do not match.";
    return fe;
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setDone(false);
    const fe = check();
    setFieldErrors(fe);
    if (Object.keys(fe).length) return;
    setBusy(true);
    try {
      await api.changePassword({ current_password: current, new_password: next });
      setCurrent("");
      setNext("");
      setConfirm("");
      setDone(true);
      toast.push({ kind: "success", title: "Password changed", body: "Your other sign-ins have been signed out." });
    } catch (err) {
      if (err instanceof ApiError && err.code === "wrong_password") {
        setFieldErrors({ current_password: "This is not your current password." });
      } else if (err instanceof ApiError) {
        setFieldErrors(err.fieldErrors());
      }
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section title="Password" subtitle="Changing it signs you out everywhere else." testId="settings-password">
      <form onSubmit={onSubmit} noValidate className="space-y-4" data-testid="password-form" aria-label="Change password">
        {error && <Alert title="Your password was not changed">{error}</Alert>}
        {done && (
          <Alert kind="success" testId="password-changed">
            Your password was changed. Your other sign-ins have been signed out.
          </Alert>
        )}
        <TextInput
          label="Current password"
          type="password"
          name="current_password"
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          error={fieldErrors.current_password}
        />
        <TextInput
          label="New password"
          type="password"
          name="new_password"
          autoComplete="new-password"
          value={next}
          onChange={(e) => setNext(e.target.value)}
          error={fieldErrors.new_password}
          hint={`At least ${PASSWORD_MIN} characters.`}
        />
        <TextInput
          label="Repeat the new password"
          type="password"
          name="confirm"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          error={fieldErrors.confirm}
        />
        <Button type="submit" loading={busy} data-testid="password-save">
          Change password
        </Button>
      </form>
    </Section>
  );
}

// ---- Google Calendar --------------------------------------------------------------

function CalendarSection({ user }: { user: User }) {
  const toast = useToast();
  const [status, setStatus] = useState<CalendarStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [syncing, setSyncing] = useState(false);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const r = await api.integrations.get(signal);
      setStatus(r.google_calendar);
      setError(null);
    } catch (err) {
      if (!signal?.aborted) setError(errorMessage(err));
    }
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    void load(ac.signal);
    // Back from Google's consent screen (`?google_calendar=connected`).
    const params = new URLSearchParams(window.location.search);
    if (params.get("google_calendar") === "connected") {
      toast.push({ kind: "success", title: "Google Calendar connected" });
      window.history.replaceState(null, "", window.location.pathname);
    }
    return () => ac.abort();
  }, [load, toast]);

  async function syncNow() {
    setSyncing(true);
    try {
      const r = await api.integrations.calendarSync();
      if (r.outcome === "revoked") {
        toast.push({ kind: "error", title: "Google stopped accepting our access", body: "Connect again to resume." });
      } else {
        const n = r.busy.length;
        toast.push({ kind: "success", title: "Calendar synced", body: `${n} busy ${n === 1 ? "time blocks" : "times block"} your slots.` });
      }
      await load();
    } catch (err) {
      toast.push({ kind: "error", title: "Couldn't sync your calendar", body: errorMessage(err) });
    } finally {
      setSyncing(false);
    }
  }

  async function disconnect() {
    setBusy(true);
    try {
      await api.integrations.calendarDisconnect();
      toast.push({ kind: "info", title: "Google Calendar disconnected" });
      await load();
    } catch (err) {
      toast.push({ kind: "error", title: "Couldn't disconnect", body: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <Section
      title="Google Calendar"
      subtitle="Lessons appear in your calendar; for tutors, busy times block your slots."
      testId="settings-calendar"
    >
      {error && <Alert title="Couldn't load your calendar connection">{error}</Alert>}
      {!status && !error && <Skeleton className="h-10 w-64" />}
      {status && !status.available && (
        <p className="text-sm text-slate-600" data-testid="calendar-state" data-state="unavailable">
          Calendar connection is not available on this server.
        </p>
      )}
      {status?.available && status.connected && (
        <div className="space-y-3" data-testid="calendar-state" data-state="connected">
          <p className="text-sm text-slate-700">
            <Badge color="green">Connected</Badge>{" "}
            {status.account_email && <>as <strong>{status.account_email}</strong></>}
            {status.last_synced_at && <> · last synced {fmtDateTime(status.last_synced_at)}</>}
          </p>
          {status.last_error && <Alert kind="warning">The last sync failed: {status.last_error}</Alert>}
          <div className="flex flex-wrap gap-2">
            {user.role === "tutor" && (
              <Button variant="secondary" size="sm" loading={syncing} onClick={() => void syncNow()} data-testid="calendar-sync">
                Sync busy times now
              </Button>
            )}
            <Button variant="secondary" size="sm" loading={busy} onClick={disconnect} data-testid="calendar-disconnect">
              Disconnect
            </Button>
          </div>
        </div>
      )}
      {status?.available && !status.connected && (
        <div className="space-y-3" data-testid="calendar-state" data-state="disconnected">
          {status.status === "revoked" && (
            <Alert kind="warning">Google stopped accepting our access{status.last_error ? ` (${status.last_error})` : ""}. Connect again to resume.</Alert>
          )}
          <p className="text-sm text-slate-600">Not connected.</p>
          <a href={api.integrations.calendarConnectUrl("/settings")} className={buttonClass("primary", "sm")} data-testid="calendar-connect">
            Connect Google Calendar
          </a>
        </div>
      )}
    </Section>
  );
}
