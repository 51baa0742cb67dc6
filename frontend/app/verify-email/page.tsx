import type { Metadata } from "next";
import { Suspense } from "react";
import { VerifyEmail } from "@/components/verify-email";
import { Skeleton } from "@/components/ui";

export const metadata: Metadata = { title: "Confirm your e-mail address" };

export default function VerifyEmailPage() {
  return (
    <Suspense fallback={<Skeleton className="mx-auto h-48 max-w-md rounded-2xl" />}>
      <VerifyEmail />
    </Suspense>
  );
}
