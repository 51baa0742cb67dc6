import { runtimeApiUrl } from "@/lib/config";

// Read per request so one build can be pointed at any API with EDUSTREAM_API_URL.
export const dynamic = "force-dynamic";

export function GET(): Response {
  const apiUrl = runtimeApiUrl();
  const body = `window.__EDUSTREAM__=${JSON.stringify(apiUrl ? { apiUrl } : {}).replace(/</g, "\\u003c")};`;
  return new Response(body, {
    headers: { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store" },
  });
}
