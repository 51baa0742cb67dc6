"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "@/lib/api";
import { MessagesLink } from "./messages";
import { NotificationBell } from "./notifications";
import { usePublicConfig, useSession } from "./session";
import { useToast } from "./toast";
import { Avatar, Badge, buttonClass, cx, Skeleton } from "./ui";

interface NavItem {
  href: string;
  label: string;
}

function navFor(role: string | undefined): NavItem[] {
  if (role === "tutor") {
    return [
      { href: "/tutor/dashboard", label: "Dashboard" },
      { href: "/tutor/availability", label: "Availability" },
      { href: "/tutor/profile", label: "Profile" },
      { href: "/tutor/packages", label: "Packages" },
      { href: "/payouts", label: "Payouts" },
      { href: "/", label: "Browse tutors" },
    ];
  }
  if (role === "admin") {
    return [
      { href: "/admin", label: "Admin console" },
      { href: "/", label: "Find a tutor" },
    ];
  }
  if (role === "student") {
    return [
      { href: "/", label: "Find a tutor" },
      { href: "/bookings", label: "My bookings" },
      { href: "/credits", label: "My credits" },
    ];
  }
  return [{ href: "/", label: "Find a tutor" }];
}

export function SiteHeader() {
  const { user, signOut } = useSession();
  const pathname = usePathname();
  const router = useRouter();
  const toast = useToast();
  const [menuOpen, setMenuOpen] = useState(false);
  const nav = navFor(user?.role);
  const config = usePublicConfig();
  // Only tutors have avatars, and only where uploads are on (else every page would 404 on it).
  const avatarSrc = user?.role === "tutor" && config?.uploads ? api.tutors.avatarUrl(user.id) : null;

  const isActive = (href: string) => (href === "/" ? pathname === "/" : pathname.startsWith(href));

  async function onSignOut() {
    await signOut();
    setMenuOpen(false);
    toast.push({ kind: "info", title: "Signed out", body: "See you soon!" });
    router.push("/");
  }

  return (
    <header className="border-b border-slate-200/80 bg-white/85 backdrop-blur">
      <div className="mx-auto flex h-16 max-w-6xl items-center gap-4 px-4 sm:px-6 lg:px-8">
        <Link href="/" className="flex items-center gap-2 rounded-lg font-bold text-slate-900">
          <span aria-hidden="true" className="flex h-8 w-8 items-center justify-center rounded-xl bg-gradient-to-br from-indigo-500 to-violet-600 text-white shadow-sm">
            E
          </span>
          <span className="text-lg tracking-tight">EduStream</span>
        </Link>

        <nav aria-label="Main" className="ml-4 hidden items-center gap-1 md:flex">
          {nav.map((n) => (
            <Link
              key={n.href}
              href={n.href}
              aria-current={isActive(n.href) ? "page" : undefined}
              className={cx(
                "rounded-lg px-3 py-2 text-sm font-medium",
                isActive(n.href) ? "bg-indigo-50 text-indigo-700" : "text-slate-600 hover:bg-slate-100 hover:text-slate-900",
              )}
            >
              {n.label}
            </Link>
          ))}
        </nav>

        <div className="ml-auto flex items-center gap-2">
          {user && <MessagesLink active={isActive("/messages")} />}
          {user && <NotificationBell />}
          {user === undefined ? (
            <Skeleton className="h-9 w-32" />
          ) : user ? (
            <div className="hidden items-center gap-3 md:flex" data-testid="current-user">
              <Link
                href="/settings"
                className="flex items-center gap-3 rounded-xl px-1.5 py-1 hover:bg-slate-100"
                title="Account settings"
                data-testid="settings-link"
                aria-current={isActive("/settings") ? "page" : undefined}
              >
                <Avatar name={user.name} size="sm" src={avatarSrc} />
                <span className="leading-tight">
                  <span className="block text-sm font-semibold text-slate-900" data-testid="current-user-name">
                    {user.name}
                  </span>
                  <span className="block text-xs text-slate-500">
                    <Badge color={user.role === "tutor" ? "indigo" : "sky"} className="mt-0.5">
                      {user.role}
                    </Badge>
                    <span className="sr-only"> — account settings</span>
                  </span>
                </span>
              </Link>
              <button type="button" onClick={onSignOut} className={buttonClass("ghost", "sm")} data-testid="sign-out">
                Sign out
              </button>
            </div>
          ) : (
            <div className="hidden items-center gap-2 md:flex">
              <Link href="/login" className={buttonClass("ghost", "sm")}>
                Sign in
              </Link>
              <Link href="/signup" className={buttonClass("primary", "sm")}>
                Get started
              </Link>
            </div>
          )}
          {user && (
            <span className="md:hidden" title={`${user.name} (${user.role})`} data-testid="current-user-mobile">
              <Avatar name={user.name} size="sm" src={avatarSrc} />
              <span className="sr-only">
                Signed in as {user.name}, {user.role}
              </span>
            </span>
          )}
          <button
            type="button"
            className="rounded-lg p-2 text-slate-600 hover:bg-slate-100 md:hidden"
            aria-expanded={menuOpen}
            aria-controls="mobile-menu"
            aria-label={menuOpen ? "Close menu" : "Open menu"}
            onClick={() => setMenuOpen((o) => !o)}
          >
            <span aria-hidden="true" className="text-xl leading-none">
              {menuOpen ? "✕" : "☰"}
            </span>
          </button>
        </div>
      </div>

      {menuOpen && (
        <div id="mobile-menu" className="border-t border-slate-200 bg-white px-4 py-3 md:hidden">
          <nav aria-label="Mobile" className="flex flex-col gap-1">
            {nav.map((n) => (
              <Link
                key={n.href}
                href={n.href}
                onClick={() => setMenuOpen(false)}
                aria-current={isActive(n.href) ? "page" : undefined}
                className={cx(
                  "rounded-lg px-3 py-2 text-sm font-medium",
                  isActive(n.href) ? "bg-indigo-50 text-indigo-700" : "text-slate-700 hover:bg-slate-100",
                )}
              >
                {n.label}
              </Link>
            ))}
          </nav>
          <div className="mt-3 border-t border-slate-100 pt-3">
            {user ? (
              <div className="flex items-center justify-between gap-2">
                <span className="text-sm text-slate-700">
                  Signed in as <strong>{user.name}</strong> ({user.role})
                </span>
                <Link href="/settings" onClick={() => setMenuOpen(false)} className={buttonClass("ghost", "sm")}>
                  Settings
                </Link>
                <button type="button" onClick={onSignOut} className={buttonClass("secondary", "sm")}>
                  Sign out
                </button>
              </div>
            ) : (
              <div className="flex gap-2">
                <Link href="/login" onClick={() => setMenuOpen(false)} className={buttonClass("secondary", "sm", "flex-1")}>
                  Sign in
                </Link>
                <Link href="/signup" onClick={() => setMenuOpen(false)} className={buttonClass("primary", "sm", "flex-1")}>
                  Get started
                </Link>
              </div>
            )}
          </div>
        </div>
      )}
    </header>
  );
}
