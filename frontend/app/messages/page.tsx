import type { Metadata } from "next";
import { Suspense } from "react";
import { MessagesPage } from "@/components/messages";
import { Skeleton } from "@/components/ui";

export const metadata: Metadata = { title: "Messages" };

export default function Page() {
  return (
    <Suspense fallback={<Skeleton className="h-96 w-full rounded-2xl" />}>
      <MessagesPage />
    </Suspense>
  );
}
