"use client";

import type { ReactNode } from "react";
import { ErrorReporting } from "./error-reporting";
import { InstantOffers } from "./instant";
import { LiveProvider } from "./live";
import { SessionProvider } from "./session";
import { ToastProvider } from "./toast";
import { WaitlistOffers } from "./waitlist";

export function Providers({ children }: { children: ReactNode }) {
  return (
    <ToastProvider>
      <ErrorReporting />
      <SessionProvider>
        <LiveProvider>
          {children}
          <InstantOffers />
          <WaitlistOffers />
        </LiveProvider>
      </SessionProvider>
    </ToastProvider>
  );
}
