/**
 * Where the API lives.
 *
 * Order: a runtime value injected by the root layout (`EDUSTREAM_API_URL` read by the
 * server at request time, so one build can talk to any backend), then the build-time
 * `NEXT_PUBLIC_API_URL`, then port 8000 on the host the page was loaded from (so
 * `localhost` and `127.0.0.1` each keep their cookies same-site).
 */

declare global {
  interface Window {
    __EDUSTREAM__?: { apiUrl?: string; sentryDsn?: string };
  }
}

const BUILD_TIME_API_URL = process.env.NEXT_PUBLIC_API_URL;

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * `localhost` and `127.0.0.1` are different sites to the cookie jar: when the page and
 * the API are both on loopback, use the page's spelling so the API's cookies are sent.
 */
function sameLoopbackSite(url: string): string {
  try {
    const u = new URL(url);
    const here = window.location.hostname;
    if (LOOPBACK.has(u.hostname) && LOOPBACK.has(here) && u.hostname !== here) {
      u.hostname = here;
      return trimSlash(u.toString());
    }
  } catch {
    // Not a URL: use it as given.
  }
  return trimSlash(url);
}

export function apiUrl(): string {
  if (typeof window !== "undefined") {
    const configured = window.__EDUSTREAM__?.apiUrl || BUILD_TIME_API_URL;
    if (configured) return sameLoopbackSite(configured);
    return `${window.location.protocol}//${window.location.hostname}:8000`;
  }
  return trimSlash(BUILD_TIME_API_URL || "http://localhost:8000");
}

/** Read on the server by the root layout; never shipped in the bundle. */
export function runtimeApiUrl(): string | undefined {
  return process.env.EDUSTREAM_API_URL || undefined;
}
