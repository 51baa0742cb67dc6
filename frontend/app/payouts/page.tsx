import type { Metadata } from "next";
import { Suspense } from "react";
import { PayoutsPage } from "@/components/payouts-page";

export const metadata: Metadata = { title: "Payouts" };

export default function Page() {
  return (
    <Suspense fallback={null}>
      <PayoutsPage />
    </Suspense>
  );
}
