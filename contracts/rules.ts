// The rules every part of sessiongate shares: what an app id, a cookie name and a
// session id look like, how BFF routes are placed under an app's path prefix,
// and the names of the headers and route metadata the parts exchange. The
// xds-server's registration API and the BFF's config validator both import this
// module, so the API refuses exactly what the BFF would refuse. The wasm filter
// (AssemblyScript, cannot import it) keeps a copy in filter/assembly/; the test
// test/filter/rules.host.test.ts runs the compiled filter over this module's
// vectors to keep the two in step.

/**
 * The reserved cookie namespace: every cookie sessiongate sets (session and
 * login-state cookies of every app) starts with it, and the gateway filter
 * removes every cookie in it from every request before an upstream sees it.
 * `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
 */
export const COOKIE_NAMESPACE = "__Host-sg-";

/** Suffix of an app's login-state cookie (`<session cookie>-login`), so it is in the namespace too. */
export const LOGIN_COOKIE_SUFFIX = "-login";

/** Longest session cookie name: its login cookie (name + "-login") stays within 128 characters. */
export const COOKIE_NAME_MAX = 128 - LOGIN_COOKIE_SUFFIX.length;

/** An app id: a DNS label (1-63 of a-z, 0-9 and '-', starting and ending alphanumeric). */
export const APP_ID_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const APP_ID_RULE = "must be 1-63 chars of a-z, 0-9 and '-', starting and ending alphanumeric";

export function isAppId(id: string): boolean {
  return APP_ID_RE.test(id);
}

/** RFC 6265 cookie-name = token (RFC 9110 tchar). */
const COOKIE_TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const COOKIE_NAME_RULE = `must be an RFC 6265 token of at most ${COOKIE_NAME_MAX} characters starting with "${COOKIE_NAMESPACE}" and not ending with "${LOGIN_COOKIE_SUFFIX}"`;

/** Why a session cookie name is refused, or null when it is fine. */
export function cookieNameProblem(name: string): string | null {
  if (!name.startsWith(COOKIE_NAMESPACE)) return `must start with "${COOKIE_NAMESPACE}"`;
  if (name.length === COOKIE_NAMESPACE.length) return `needs a name after "${COOKIE_NAMESPACE}"`;
  if (name.length > COOKIE_NAME_MAX) return `longer than ${COOKIE_NAME_MAX} characters`;
  if (!COOKIE_TOKEN_RE.test(name)) return "is not a cookie name (RFC 6265 token characters only)";
  // Another app's login cookie would collide with it.
  if (name.endsWith(LOGIN_COOKIE_SUFFIX))
    return `must not end with "${LOGIN_COOKIE_SUFFIX}" (login cookies do)`;
  return null;
}

export const isCookieName = (name: string) => cookieNameProblem(name) === null;

export const defaultCookieName = (appId: string) => `${COOKIE_NAMESPACE}${appId}`;
export const loginCookieName = (cookie: string) => `${cookie}${LOGIN_COOKIE_SUFFIX}`;

/**
 * Whether a cookie name is in sessiongate's namespace. Case-insensitive, as
 * RFC 6265bis compares cookie-name prefixes: a `__host-sg-` spelling is still ours.
 */
export function inCookieNamespace(name: string): boolean {
  return (
    name.length >= COOKIE_NAMESPACE.length &&
    name.slice(0, COOKIE_NAMESPACE.length).toLowerCase() === COOKIE_NAMESPACE.toLowerCase()
  );
}

/** A session id (the cookie's value): 1..256 of [A-Za-z0-9_-]; the BFF issues 43 (32 random bytes, base64url). */
export const SESSION_ID_RE = /^[A-Za-z0-9_-]{1,256}$/;

export function isSessionId(v: string): boolean {
  return SESSION_ID_RE.test(v);
}

/** Default public prefix of the BFF routes (xds-server --bff-prefix, BFF public.prefix). */
export const DEFAULT_BFF_PREFIX = "/auth";

/** Where an app's BFF routes sit: `<path_prefix without a lone "/"><bff prefix>`. */
export function joinPrefix(appPrefix: string, bffPrefix: string): string {
  return (appPrefix === "/" || !appPrefix ? "" : appPrefix.replace(/\/$/, "")) + bffPrefix;
}

/** Headers the parts exchange. */
export const HEADER = {
  /** The app of a request: set by Envoy's routes, and by the filter on its call to the BFF. */
  app: "x-sessiongate-app",
  /** The session id the filter asks the BFF about. */
  session: "x-sessiongate-session",
  /** Optional shared secret on the filter's call to the BFF's internal port. */
  internalKey: "x-sessiongate-internal-key",
  /** The browser client sends it on /token: a cross-site form cannot. */
  csrf: "x-sessiongate-csrf",
} as const;

/** The BFF's internal token endpoint the filter calls. */
export const INTERNAL_TOKEN_PATH = "/internal/v1/session-token";

/** Route metadata the filter reads: filter_metadata.<namespace>.<key> = the app's JSON. */
export const ROUTE_METADATA = { namespace: "sessiongate", key: "app" } as const;

/**
 * App groups (micro-frontends sharing one provider client): a group name has
 * the app-id form. The group's routes sit at the origin's root under the BFF
 * prefix, `<bff prefix>/_group/<group>/…` (no app id starts with '_', so they
 * never meet an app's `<bff prefix>/<app>/…`): one redirect URI per origin
 * for every app of the group (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps).
 */
export const GROUP_RULE = APP_ID_RULE;
export const isGroupName = (g: string): boolean => APP_ID_RE.test(g);
export const GROUP_PATH_SEGMENT = "_group";
export const groupBase = (bffPrefix: string, group: string) => `${bffPrefix}/${GROUP_PATH_SEGMENT}/${group}`;

/**
 * The group's sign-in cookie (`__Host-sg-_g-<group>`; its login state is
 * `<that>-login`). Names starting `__Host-sg-_` are kept for groups: an app's
 * own session cookie may not use them (appCookieNameProblem).
 */
export const GROUP_COOKIE_PREFIX = `${COOKIE_NAMESPACE}_`;
export const groupCookieName = (group: string) => `${GROUP_COOKIE_PREFIX}g-${group}`;

/** cookieNameProblem plus the names kept for groups: the rule for an app's session cookie. */
export function appCookieNameProblem(name: string): string | null {
  const p = cookieNameProblem(name);
  if (p) return p;
  if (name.toLowerCase().startsWith(GROUP_COOKIE_PREFIX.toLowerCase()))
    return `must not start with "${GROUP_COOKIE_PREFIX}" (kept for app groups)`;
  return null;
}
