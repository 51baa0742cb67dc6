"use client";

import { useEffect } from "react";

/**
 * Sends the browser's uncaught errors and unhandled rejections to Sentry when a DSN is set
 * (`NEXT_PUBLIC_SENTRY_DSN` when the frontend is built, or `EDUSTREAM_SENTRY_DSN` on the web
 * server at run time); off otherwise, and then the SDK is not even downloaded. No personal
 * data: no IP, cookies or user fields.
 */
export function ErrorReporting() {
  useEffect(() => {
    const dsn = window.__EDUSTREAM__?.sentryDsn ?? process.env.NEXT_PUBLIC_SENTRY_DSN;
    if (!dsn) return;
    void import("@sentry/browser").then((Sentry) => {
      Sentry.init({
        dsn,
        sendDefaultPii: false,
        tracesSampleRate: 0,
        environment: process.env.NODE_ENV,
        beforeSend(event) {
          delete event.user;
          if (event.request) delete event.request.cookies;
          return event;
        },
      });
    });
  }, []);
  return null;
}
