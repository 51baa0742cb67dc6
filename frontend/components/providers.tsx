"use client";

import type { ReactNode } from "react";
import { ErrorReporting } from "./error-reporting";
import { InstantOffers } from "./instant";
import { LiveProvider } from "./live";
import { SessionProvider } from "./session";
import { ToastProvider } from "./toast";

export function Providers({ children }: { children: ReactNode }) {
  return (
    <ToastProvider>
      <ErrorReporting />
      <SessionProvider>
        <LiveProvider>
          {children}
          <InstantOffers />
        </LiveProvider>
      </SessionProvider>
    </ToastProvider>
  );
}
