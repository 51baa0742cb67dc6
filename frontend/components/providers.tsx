"use client";

import type { ReactNode } from "react";
import { LiveProvider } from "./live";
import { SessionProvider } from "./session";
import { ToastProvider } from "./toast";

export function Providers({ children }: { children: ReactNode }) {
  return (
    <ToastProvider>
      <SessionProvider>
        <LiveProvider>{children}</LiveProvider>
      </SessionProvider>
    </ToastProvider>
  );
}
