import type { Metadata } from "next";
import { Suspense } from "react";
import { SignupForm } from "@/components/auth-forms";
import { Skeleton } from "@/components/ui";

export const metadata: Metadata = { title: "Create your account" };

export default function SignupPage() {
  return (
    <Suspense fallback={<Skeleton className="mx-auto h-[32rem] max-w-md rounded-2xl" />}>
      <SignupForm />
    </Suspense>
  );
}
