import type { Metadata, Viewport } from "next";
import Script from "next/script";
import type { ReactNode } from "react";
import { SessionBanner } from "@/components/live";
import { Providers } from "@/components/providers";
import { SiteHeader } from "@/components/site-header";
import "./globals.css";

export const metadata: Metadata = {
  title: { default: "EduStream — book a tutor", template: "%s · EduStream" },
  description: "Find a tutor, see their real availability live, and book a lesson in a minute.",
};

export const viewport: Viewport = {
  themeColor: "#4f46e5",
  width: "device-width",
  initialScale: 1,
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen font-sans">
        <Script src="/runtime-config.js" strategy="beforeInteractive" />
        <a
          href="#main"
          className="sr-only focus:not-sr-only focus:fixed focus:left-4 focus:top-4 focus:z-[70] focus:rounded-lg focus:bg-white focus:px-4 focus:py-2 focus:shadow"
        >
          Skip to content
        </a>
        <Providers>
          <div className="flex min-h-screen flex-col">
            <div className="sticky top-0 z-40">
              <SessionBanner />
              <SiteHeader />
            </div>
            <main id="main" className="mx-auto w-full max-w-6xl flex-1 px-4 py-8 sm:px-6 lg:px-8">
              {children}
            </main>
            <footer className="border-t border-slate-200 bg-white/60">
              <div className="mx-auto flex max-w-6xl flex-wrap items-center justify-between gap-2 px-4 py-6 text-sm text-slate-500 sm:px-6 lg:px-8">
                <span>© EduStream — learn with people who care.</span>
                <span>Times are shown in your time zone; tutor pages also name the tutor&apos;s.</span>
              </div>
            </footer>
          </div>
        </Providers>
      </body>
    </html>
  );
}
