import type { Metadata } from "next";
import { Suspense } from "react";
import { LoginForm } from "@/components/auth-forms";
import { Skeleton } from "@/components/ui";

export const metadata: Metadata = { title: "Sign in" };

export default function LoginPage() {
  return (
    <Suspense fallback={<Skeleton className="mx-auto h-96 max-w-md rounded-2xl" />}>
      <LoginForm />
    </Suspense>
  );
}
