import { runtimeApiUrl } from "@/lib/config";

// Read per request so one build can be pointed at any API with EDUSTREAM_API_URL.
export const dynamic = "force-dynamic";

export function GET(): Response {
  const apiUrl = runtimeApiUrl();
  // Frontend error reporting (off unless set). EDUSTREAM_SENTRY_DSN is read per request (one build
  // can turn it on); NEXT_PUBLIC_SENTRY_DSN is inlined when the frontend is built.
  const sentryDsn = process.env.EDUSTREAM_SENTRY_DSN || process.env.NEXT_PUBLIC_SENTRY_DSN || undefined;
  const config = { ...(apiUrl ? { apiUrl } : {}), ...(sentryDsn ? { sentryDsn } : {}) };
  const body = `window.__EDUSTREAM__=${JSON.stringify(config).replace(/</g, "\\u003c")};`;
  return new Response(body, {
    headers: { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store" },
  });
}
