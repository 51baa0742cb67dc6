"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useState, type FormEvent } from "react";
import { api, ApiError, errorMessage } from "@/lib/api";
import { safeNext } from "@/lib/redirect";
import { useMounted } from "@/lib/hooks";
import { userTimeZone } from "@/lib/time";
import type { User } from "@/lib/types";
import { usePublicConfig, useSession } from "./session";
import { useToast } from "./toast";
import { Alert, Button, Card, cx, TextInput } from "./ui";

const NAME_MAX = 200;
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 256;

function homeFor(user: User): string {
  return user.role === "tutor" ? "/tutor/dashboard" : "/";
}

/** `role`: the role of an account Google sign-in creates (the sign-up page's choice). */
function GoogleButton({ role, next }: { role?: "student" | "tutor"; next?: string | null }) {
  const config = usePublicConfig();
  if (!config?.google_sign_in) return null;
  return (
    <>
      <a
        href={api.auth.googleLoginUrl({ role, next })}
        data-testid="google-sign-in"
        className="flex w-full items-center justify-center gap-3 rounded-xl bg-white px-4 py-2.5 text-sm font-semibold text-slate-800 shadow-sm ring-1 ring-slate-300 hover:bg-slate-50"
      >
        <svg aria-hidden="true" viewBox="0 0 24 24" className="h-5 w-5">
          <path fill="#EA4335" d="M12 10.2v3.9h5.5c-.2 1.3-1.6 3.9-5.5 3.9-3.3 0-6-2.7-6-6.1s2.7-6.1 6-6.1c1.9 0 3.1.8 3.8 1.5l2.6-2.5C16.8 3.3 14.6 2.3 12 2.3 6.7 2.3 2.4 6.6 2.4 12s4.3 9.7 9.6 9.7c5.5 0 9.2-3.9 9.2-9.4 0-.6-.1-1.1-.2-1.6H12z" />
        </svg>
        Continue with Google
      </a>
      <div className="my-5 flex items-center gap-3 text-xs uppercase tracking-wide text-slate-400">
        <span className="h-px flex-1 bg-slate-200" /> or <span className="h-px flex-1 bg-slate-200" />
      </div>
    </>
  );
}

function AuthShell({ title, subtitle, children, footer }: { title: string; subtitle: string; children: React.ReactNode; footer: React.ReactNode }) {
  return (
    <div className="mx-auto max-w-md">
      <div className="mb-6 text-center">
        <h1 className="text-2xl font-bold tracking-tight text-slate-900 sm:text-3xl">{title}</h1>
        <p className="mt-2 text-slate-600">{subtitle}</p>
      </div>
      <Card>{children}</Card>
      <p className="mt-6 text-center text-sm text-slate-600">{footer}</p>
    </div>
  );
}

export function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const { setUser } = useSession();
  const toast = useToast();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  // Passed on as given (the signup page checks it again); checked where it is followed.
  const next = params.get("next");

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFieldErrors({});
    try {
      const { user } = await api.auth.login(email.trim(), password);
      setUser(user);
      toast.push({ kind: "success", title: `Welcome back, ${user.name.split(" ")[0]}!` });
      router.push(safeNext(next) ?? homeFor(user));
    } catch (err) {
      if (err instanceof ApiError) setFieldErrors(err.fieldErrors());
      setError(errorMessage(err));
      setBusy(false);
    }
  }

  return (
    <AuthShell
      title="Welcome back"
      subtitle="Sign in to book lessons and see your schedule."
      footer={
        <>
          New to EduStream?{" "}
          <Link href={next ? `/signup?next=${encodeURIComponent(next)}` : "/signup"} className="font-semibold text-indigo-600 hover:text-indigo-700">
            Create an account
          </Link>
        </>
      }
    >
      <GoogleButton next={next} />
      <form onSubmit={onSubmit} className="space-y-4" noValidate aria-label="Sign in" data-testid="login-form">
        {error && <Alert title="Sign-in failed">{error}</Alert>}
        <TextInput
          label="Email"
          type="email"
          name="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldErrors.email}
        />
        <TextInput
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldErrors.password}
        />
        <Button type="submit" className="w-full" size="lg" loading={busy} data-testid="login-submit">
          Sign in
        </Button>
      </form>
    </AuthShell>
  );
}

export function SignupForm() {
  const router = useRouter();
  const params = useSearchParams();
  const { setUser } = useSession();
  const toast = useToast();
  const mounted = useMounted();
  const [role, setRole] = useState<"student" | "tutor">(params.get("role") === "tutor" ? "tutor" : "student");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const next = params.get("next");

  function check(): Record<string, string> {
    const fe: Record<string, string> = {};
    const n = name.trim();
    if (!n) fe.name = "Please enter your name.";
    else if (n.length > NAME_MAX) fe.name = `Your name can be at most ${NAME_MAX} characters.`;
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) fe.email = "Please enter a valid email address.";
    if (password.length < PASSWORD_MIN) fe.password = `Your password needs at least ${PASSWORD_MIN} characters.`;
    else if (password.length > PASSWORD_MAX) fe.password = `Your password can be at most ${PASSWORD_MAX} characters.`;
    return fe;
  }

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const fe = check();
    setFieldErrors(fe);
    if (Object.keys(fe).length) return;
    setBusy(true);
    try {
      const { user } = await api.auth.register({
        email: email.trim(),
        password,
        name: name.trim(),
        role,
        timezone: userTimeZone(),
      });
      setUser(user);
      toast.push({ kind: "success", title: `Welcome to EduStream, ${user.name.split(" ")[0]}!` });
      router.push(user.role === "tutor" ? "/tutor/profile" : (safeNext(next) ?? "/"));
    } catch (err) {
      if (err instanceof ApiError) {
        const fe = err.fieldErrors();
        if (err.code === "email_taken") fe.email = fe.email ?? errorMessage(err);
        setFieldErrors(fe);
      }
      setError(errorMessage(err));
      setBusy(false);
    }
  }

  const roles = [
    { value: "student" as const, title: "I want to learn", body: "Find tutors and book lessons." },
    { value: "tutor" as const, title: "I want to teach", body: "Publish your hours and get booked." },
  ];

  return (
    <AuthShell
      title="Create your account"
      subtitle="It takes less than a minute."
      footer={
        <>
          Already have an account?{" "}
          <Link href={next ? `/login?next=${encodeURIComponent(next)}` : "/login"} className="font-semibold text-indigo-600 hover:text-indigo-700">
            Sign in
          </Link>
        </>
      }
    >
      <GoogleButton role={role} next={role === "tutor" ? "/tutor/profile" : next} />
      <form onSubmit={onSubmit} className="space-y-4" noValidate aria-label="Sign up" data-testid="signup-form">
        {error && <Alert title="Couldn't create your account">{error}</Alert>}
        <fieldset>
          <legend className="text-sm font-medium text-slate-800">I am joining as</legend>
          <div className="mt-1.5 grid grid-cols-2 gap-3">
            {roles.map((r) => (
              <label
                key={r.value}
                className={cx(
                  "cursor-pointer rounded-xl p-3 ring-1 transition has-[:focus-visible]:outline has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-offset-2 has-[:focus-visible]:outline-indigo-600",
                  role === r.value ? "bg-indigo-50 ring-2 ring-indigo-500" : "bg-white ring-slate-300 hover:bg-slate-50",
                )}
              >
                <input
                  type="radio"
                  name="role"
                  value={r.value}
                  checked={role === r.value}
                  onChange={() => setRole(r.value)}
                  className="sr-only"
                  data-testid={`role-${r.value}`}
                />
                <span className="block text-sm font-semibold text-slate-900">{r.title}</span>
                <span className="mt-0.5 block text-xs text-slate-600">{r.body}</span>
              </label>
            ))}
          </div>
          {fieldErrors.role && <p className="mt-1 text-xs font-medium text-rose-600">{fieldErrors.role}</p>}
        </fieldset>
        <TextInput
          label="Your name"
          name="name"
          autoComplete="name"
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldErrors.name}
        />
        <TextInput
          label="Email"
          type="email"
          name="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldErrors.email}
        />
        <TextInput
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldErrors.password}
          hint={`At least ${PASSWORD_MIN} characters.`}
        />
        {mounted && (
          <p className="text-xs text-slate-500" data-testid="signup-timezone">
            Times will be shown in {userTimeZone().replace(/_/g, " ")}, your browser&apos;s time zone. You can change it later in
            your settings.
          </p>
        )}
        <Button type="submit" className="w-full" size="lg" loading={busy} data-testid="signup-submit">
          Create account
        </Button>
      </form>
    </AuthShell>
  );
}
