// The filter's copy of the shared rules of contracts/rules.ts (AssemblyScript
// cannot import it): the cookie namespace, app ids, cookie names, session ids.
// test/filter/rules.host.test.ts runs the compiled filter over that module's
// vectors, so a rule changed on one side only fails there.
import { isAlnum } from "./ascii";

export const COOKIE_NAMESPACE = "__Host-sg-";
export const LOGIN_COOKIE_SUFFIX = "-login";
const COOKIE_NAME_MAX = 128 - 6;

/** RFC 6265 cookie-name = token (RFC 9110 tchar). */
export function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) < 0) return false;
  }
  return true;
}

/** An app id: a DNS label (1-63 of a-z, 0-9, '-', starting and ending alphanumeric). */
export function isAppId(s: string): bool {
  if (s.length == 0 || s.length > 63) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && (c != 0x2d || i == 0 || i == s.length - 1)) return false;
  }
  return true;
}

/** A session cookie name: a token in the reserved namespace, room for its login cookie, not a login cookie. */
export function isCookieName(s: string): bool {
  return (
    s.startsWith(COOKIE_NAMESPACE) &&
    s.length > COOKIE_NAMESPACE.length &&
    s.length <= COOKIE_NAME_MAX &&
    isToken(s) &&
    !s.endsWith(LOGIN_COOKIE_SUFFIX)
  );
}

/** The longest session id (docs/architecture.md#cookies). */
export const MAX_SESSION_ID = 256;

/** A session id is 1..256 chars of [A-Za-z0-9_-] (docs/architecture.md#cookies); anything else is "no session". */
export function isValidSessionId(v: string): bool {
  if (v.length == 0 || v.length > MAX_SESSION_ID) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!isAlnum(c) && c != 0x2d && c != 0x5f) return false;
  }
  return true;
}

/** isValidSessionId over the `len` bytes at `p` (a cookie value read in place). */
export function isValidSessionIdAt(p: usize, len: usize): bool {
  if (len == 0 || len > <usize>MAX_SESSION_ID) return false;
  for (let i: usize = 0; i < len; i++) {
    const c = <i32>load<u8>(p + i);
    if (!isAlnum(c) && c != 0x2d && c != 0x5f) return false;
  }
  return true;
}
