"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import type { Role, User } from "@/lib/types";
import { useSession } from "./session";
import { buttonClass, EmptyState, Skeleton } from "./ui";

/** Renders children only for a signed-in user of `role`; sends others to sign in. */
export function RequireAuth({ role, children }: { role?: Role; children: (user: User) => ReactNode }) {
  const { user } = useSession();
  const router = useRouter();
  const pathname = usePathname();

  useEffect(() => {
    if (user === null) router.replace(`/login?next=${encodeURIComponent(pathname)}`);
  }, [user, router, pathname]);

  if (user === undefined || user === null) {
    return (
      <div className="space-y-4" aria-busy="true" aria-label="Loading">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-40 w-full rounded-2xl" />
        <Skeleton className="h-40 w-full rounded-2xl" />
      </div>
    );
  }
  if (role && user.role !== role) {
    return (
      <EmptyState
        icon="lock"
        title={role === "tutor" ? "This page is for tutors" : role === "admin" ? "This page is for admins" : "This page is for students"}
        action={
          <Link href={user.role === "tutor" ? "/tutor/dashboard" : "/"} className={buttonClass("primary")}>
            Go to my home page
          </Link>
        }
      >
        You are signed in as a {user.role}.
      </EmptyState>
    );
  }
  return <>{children(user)}</>;
}
