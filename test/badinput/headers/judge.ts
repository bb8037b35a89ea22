// The properties every fuzzed header set must keep, judged from the request
// as the filter left it (Node host) or as the upstream saw it (real Envoy).
// Only what is certain is a violation; everything else is counted.
import { COOKIE, FAILING, type HeaderSet, HOST, LIVE, ORIGIN, tokenFor } from "./gen.js";

/** Independent model of "which session does this request name" (RFC 6265 pairs, first wins). */
export function modelSession(cookieHeaders: string[]): string | undefined {
  for (const hv of cookieHeaders) {
    for (const raw of hv.split(";")) {
      const piece = raw.replace(/^[ \t]+|[ \t]+$/g, "");
      const eq = piece.indexOf("=");
      if (eq < 0 || piece.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, "") !== COOKIE) continue;
      let v = piece.slice(eq + 1).replace(/^[ \t]+|[ \t]+$/g, "");
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

export function sessionCookieIn(cookieHeaders: string[]): boolean {
  return cookieHeaders.some((hv) =>
    hv.split(";").some((p) => {
      const eq = p.indexOf("=");
      return eq >= 0 && p.slice(0, eq).trim() === COOKIE;
    }),
  );
}

/** What came out: forwarded (with these headers) or answered locally. */
export interface Seen {
  forwarded: boolean;
  status?: number;
  body?: string;
  authorization: string[];
  cookies: string[];
}

const CERTAIN_FOREIGN = new Set([
  "https://evil.example",
  `https://${HOST}.evil.example`,
  "null",
  `http://${HOST}`,
]);

/** The app certainly matches: its host (any case) and an origin-form path. */
export const matched = (h: HeaderSet) => h.authority.toLowerCase() === HOST && h.path.startsWith("/");

/** Certainly an unsafe cross-site request by the documented rule. */
export function certainlyCrossSite(h: HeaderSet): boolean {
  if (!["POST", "PUT", "PATCH", "DELETE"].includes(h.method)) return false;
  const fs = h.fetchSite?.trim().toLowerCase();
  return fs === "cross-site" || (h.origin !== undefined && CERTAIN_FOREIGN.has(h.origin));
}

export function outcomeLabel(h: HeaderSet, s: Seen): string {
  if (!s.forwarded) return `local ${s.status}`;
  const own = h.authorization === undefined ? [] : [h.authorization];
  return JSON.stringify(s.authorization) === JSON.stringify(own)
    ? "forwarded untouched"
    : "forwarded with token";
}

/**
 * The documented decision (filter/README.md, "Behaviour", in its order) for a
 * request that certainly names the app and carries its session cookie.
 */
export function expectedDecision(h: HeaderSet, sid: string, failing: Set<string> = FAILING): string {
  if (h.authorization !== undefined && h.authorization.trim() !== "") return "forwarded untouched";
  const unsafe = !["GET", "HEAD", "OPTIONS"].includes(h.method);
  const fs = h.fetchSite?.trim().toLowerCase();
  const crossSite =
    fs === "cross-site" ||
    (fs === "same-site" && h.origin === undefined) ||
    (h.origin !== undefined && h.origin.trim().toLowerCase() !== ORIGIN);
  if (unsafe && crossSite) return "local 403";
  if (!/^[A-Za-z0-9_-]{1,256}$/.test(sid)) return "local 401";
  if (LIVE.has(sid)) return "forwarded with token";
  return failing.has(sid) ? "local 503" : "local 401";
}

/** The violated property, or "". */
/** `exact`: also the documented decision; `failing`: the sessions the BFF answers with an error. */
export function judge(h: HeaderSet, s: Seen, opts: { exact?: boolean; failing?: Set<string> } = {}): string {
  const sid = modelSession(h.cookies);
  if (opts.exact && matched(h) && sid !== undefined) {
    const want = expectedDecision(h, sid, opts.failing);
    const got = outcomeLabel(h, s);
    if (got !== want) return `decision ${JSON.stringify(got)}, documented ${JSON.stringify(want)}`;
  }
  if (s.forwarded) {
    // Any authorization the client did not send must be the token of the cookie's own, live session.
    const added = s.authorization.filter((v) => v !== h.authorization);
    const want = sid !== undefined && LIVE.has(sid) ? `Bearer ${tokenFor(sid)}` : undefined;
    if (added.length > 1 || (added.length === 1 && added[0] !== want))
      return `token of another session: cookie names ${JSON.stringify(sid)}, upstream got ${JSON.stringify(s.authorization)}`;
    if (matched(h) && sessionCookieIn(s.cookies))
      return "invariant 6: the session cookie reached the upstream";
    if (matched(h) && sid !== undefined && certainlyCrossSite(h) && h.authorization === undefined)
      return "invariant 5: an unsafe cross-site request with the session cookie was forwarded";
    return "";
  }
  if (![401, 403, 503].includes(s.status ?? 0)) return `unexpected local status ${s.status}`;
  try {
    if (typeof JSON.parse(s.body ?? "").error !== "string") return `local ${s.status} without a JSON error`;
  } catch {
    return `local ${s.status} body is not JSON: ${JSON.stringify((s.body ?? "").slice(0, 80))}`;
  }
  return "";
}
