// Cross-site request check for unsafe methods that rely on the session cookie
// (docs/architecture.md#invariant-5). Sec-Fetch-Site "cross-site" is refused; "same-site" needs an
// allowed Origin (a sibling subdomain is not the app); any Origin present must
// be allowed. Without both headers (non-browser clients) the SameSite=Strict
// cookie is the protection, so the request is let through.
import { AppConfig } from "./config";

export function isSafeMethod(m: string): bool {
  return m == "GET" || m == "HEAD" || m == "OPTIONS";
}

export function originAllowed(app: AppConfig, origin: string, scheme: string, authority: string): bool {
  const o = origin.toLowerCase();
  if (app.allowedOrigins.length > 0) return app.allowedOrigins.includes(o);
  // No list configured: the request's own origin only.
  const host = authority.toLowerCase();
  if (host.length == 0) return false;
  return o == "https://" + host || (scheme.length > 0 && o == scheme.toLowerCase() + "://" + host);
}

/** True when the request must be refused. `origin`/`fetchSite` are null when absent. */
export function isCrossSite(
  app: AppConfig,
  method: string,
  origin: string | null,
  fetchSite: string | null,
  scheme: string,
  authority: string,
): bool {
  if (isSafeMethod(method)) return false;
  if (fetchSite !== null) {
    const fs = fetchSite.trim().toLowerCase();
    if (fs == "cross-site") return true;
    if (fs == "same-site" && origin === null) return true;
  }
  if (origin !== null && !originAllowed(app, origin.trim(), scheme, authority)) return true;
  return false;
}
