// Tolerant Cookie header parsing (RFC 6265 §5.4 / §4.2, as browsers send it):
// several Cookie headers, optional whitespace around ';' and '=', quoted
// values, duplicates. The first occurrence of the session cookie wins (RFC
// 6265 orders longer paths first; a __Host- cookie only ever has Path=/).

// Every cookie sessiongate sets (session and login cookies of every app) is
// named in this namespace (contracts/rules.ts COOKIE_NAMESPACE), and none of
// them may reach an upstream: the scan drops them all, whatever the route.
export const COOKIE_NAMESPACE = "__Host-sg-";

export class CookieScan {
  /** Whether the session cookie appears at all. */
  found: bool = false;
  /** Value of its first occurrence (quotes removed). */
  value: string = "";
  /** Every other cookie pair outside the namespace, trimmed, in order: what goes upstream. */
  others: string[] = [];
  /** Whether any pair was dropped (the session cookie or another namespace cookie): the header must be rewritten. */
  dropped: bool = false;
}

/** Whether a cookie name is in the namespace, ASCII case-insensitively (RFC 6265bis compares prefixes so). */
export function inNamespace(name: string): bool {
  const n = COOKIE_NAMESPACE.length;
  if (name.length < n) return false;
  for (let i = 0; i < n; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    let e = COOKIE_NAMESPACE.charCodeAt(i);
    if (e >= 0x41 && e <= 0x5a) e += 0x20;
    if (c != e) return false;
  }
  return true;
}

function isOws(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a == 0 && b == s.length ? s : s.substring(a, b);
}

/**
 * One pass over the Cookie headers: finds the session cookie `name` (empty:
 * the request has no app, only the namespace is dropped) and keeps every pair
 * outside the namespace. `keep` (a BFF route): `name` and `keep` are kept as
 * they are, not taken as the session; the rest of the namespace is dropped.
 */
export function scanCookies(headerValues: string[], name: string, keep: string = ""): CookieScan {
  const r = new CookieScan();
  for (let h = 0; h < headerValues.length; h++) {
    const hv = headerValues[h];
    let start = 0;
    while (start <= hv.length) {
      let end = hv.indexOf(";", start);
      if (end < 0) end = hv.length;
      const piece = trimOws(hv.substring(start, end));
      start = end + 1;
      if (piece.length == 0) continue;
      const eq = piece.indexOf("=");
      // A piece without '=' is a nameless cookie in browsers; never ours.
      if (eq < 0) {
        r.others.push(piece);
        continue;
      }
      const pieceName = trimOws(piece.substring(0, eq));
      if (keep.length > 0 && (pieceName == name || pieceName == keep)) {
        r.others.push(piece);
        continue;
      }
      if (name.length == 0 || pieceName != name) {
        if (inNamespace(pieceName)) r.dropped = true;
        else r.others.push(piece);
        continue;
      }
      r.dropped = true;
      if (r.found) continue; // duplicate of the session cookie: dropped, not forwarded
      let v = trimOws(piece.substring(eq + 1));
      if (v.length >= 2 && v.charCodeAt(0) == 0x22 && v.charCodeAt(v.length - 1) == 0x22)
        v = v.substring(1, v.length - 1);
      r.found = true;
      r.value = v;
    }
  }
  return r;
}

/** docs/architecture.md#cookies: a session id is 1..256 chars of [A-Za-z0-9_-]; anything else is "no session". */
export function isValidSessionId(v: string): bool {
  if (v.length == 0 || v.length > 256) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c == 0x2d ||
      c == 0x5f;
    if (!ok) return false;
  }
  return true;
}
