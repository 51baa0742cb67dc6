/**
 * Where to send the browser after signing in: the `next` query parameter, only when it
 * stays on this site.
 *
 * `next` is resolved the way the browser itself would resolve a link (`new URL(next, origin)`),
 * so every spelling that leaves the site (`//evil.com`, `/\evil.com`, `/\t/evil.com`,
 * `https://evil.com`, `javascript:…`) is caught by one origin comparison instead of a list of
 * prefixes. The result is a path (never a full URL) and never starts with `//`, which a router
 * would again read as another host.
 */
export function safeNextPath(raw: string | null | undefined, origin: string): string | null {
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw, origin);
  } catch {
    return null;
  }
  if (url.origin !== new URL(origin).origin) return null;
  const path = "/" + url.pathname.replace(/^[/\\]+/, "");
  return path + url.search + url.hash;
}

/** {@link safeNextPath} against the current page's origin (null outside the browser). */
export function safeNext(raw: string | null | undefined): string | null {
  if (typeof window === "undefined") return null;
  return safeNextPath(raw, window.location.origin);
}
