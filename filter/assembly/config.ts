// Plugin configuration (JSON, docs/architecture.md#filter-plugin-configuration).
// Every key but "apps" is optional. Unknown keys are refused so that a typo
// cannot silently disable a check; every error names the field.
import { JKind, JsonParser, JValue } from "./json";

export class AppConfig {
  id: string = "";
  hosts: string[] = ["*"];
  pathPrefix: string = "/";
  cookie: string = "";
  /** `<cookie>-login`, the BFF's login-state cookie of this app. */
  loginCookie: string = "";
  allowedOrigins: string[] = [];
  /**
   * Route metadata `"bff": true`: the route's upstream is the BFF, the session
   * authority. The app's own session and login cookies go there untouched (no
   * swap, the BFF checks CSRF itself); every other sessiongate cookie is dropped.
   */
  bffRoute: bool = false;
}

export class Config {
  bffCluster: string = "sessiongate_bff_internal";
  bffAuthority: string = "sessiongate-bff";
  bffPath: string = "/internal/v1/session-token";
  bffTimeoutMs: u32 = 2000;
  bffInternalKey: string = "";
  cacheEnabled: bool = true;
  cacheSlots: u32 = 16384;
  cacheSkewS: u32 = 10;
  cacheMaxTtlS: u32 = 30;
  apps: AppConfig[] = [];
}

export class ConfigResult {
  constructor(
    public config: Config | null,
    public error: string,
  ) {}
}

const MAX_SLOTS: f64 = 1048576;

function err(field: string, msg: string): ConfigResult {
  return new ConfigResult(null, "invalid configuration: field '" + field + "': " + msg);
}

/** RFC 6265 cookie-name = token (RFC 9110 tchar). */
export function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && "!#$%&'*+-.^_`|~".indexOf(String.fromCharCode(c)) < 0) return false;
  }
  return true;
}

// A copy of contracts/rules.ts (AssemblyScript cannot import it);
// test/filter/rules.host.test.ts runs this module over that one's vectors.
const COOKIE_NAMESPACE = "__Host-sg-";
const LOGIN_COOKIE_SUFFIX = "-login";
const COOKIE_NAME_MAX = 128 - 6;

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

/** Visible ASCII only (safe to put in a header value, no spaces). */
function isVisibleAscii(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function checkKeys(v: JValue, allowed: string[], where: string): string {
  for (let i = 0; i < v.keys.length; i++) {
    if (!allowed.includes(v.keys[i])) return where + v.keys[i];
  }
  return "";
}

// Small typed readers. They return null (and set `bad`) on a type error.
let bad: string = "";

function readString(o: JValue, key: string, field: string, def: string): string {
  const v = o.get(key);
  if (v === null) return def;
  if (v.kind != JKind.Str) {
    bad = field;
    return def;
  }
  return v.s;
}

function readInt(o: JValue, key: string, field: string, def: u32, min: f64, max: f64): u32 {
  const v = o.get(key);
  if (v === null) return def;
  if (v.kind != JKind.Num || v.n != Math.floor(v.n) || v.n < min || v.n > max) {
    bad = field;
    return def;
  }
  return <u32>v.n;
}

function readStrings(o: JValue, key: string, field: string, def: string[]): string[] {
  const v = o.get(key);
  if (v === null) return def;
  if (v.kind != JKind.Arr) {
    bad = field;
    return def;
  }
  const out: string[] = [];
  for (let i = 0; i < v.items.length; i++) {
    const it = v.items[i];
    if (it.kind != JKind.Str || it.s.length == 0 || !isVisibleAscii(it.s)) {
      bad = field + "[" + i.toString() + "]";
      return def;
    }
    out.push(it.s);
  }
  return out;
}

export function parseConfig(text: string): ConfigResult {
  if (text.trim().length == 0) text = "{}";
  const p = new JsonParser(text);
  const root = p.parse();
  if (root === null) return err("(root)", "not valid JSON: " + p.error);
  if (root.kind != JKind.Obj) return err("(root)", "must be a JSON object");
  const unknown = checkKeys(
    root,
    ["bff_cluster", "bff_authority", "bff_path", "bff_timeout_ms", "bff_internal_key", "cache", "apps"],
    "",
  );
  if (unknown.length > 0) return err(unknown, "unknown field");

  const c = new Config();
  bad = "";
  c.bffCluster = readString(root, "bff_cluster", "bff_cluster", c.bffCluster);
  if (bad.length == 0 && c.bffCluster.length == 0) bad = "bff_cluster";
  if (bad.length > 0) return err(bad, "must be a non-empty string");
  c.bffAuthority = readString(root, "bff_authority", "bff_authority", c.bffAuthority);
  if (bad.length == 0 && (c.bffAuthority.length == 0 || !isVisibleAscii(c.bffAuthority)))
    bad = "bff_authority";
  if (bad.length > 0) return err(bad, "must be a non-empty host[:port] string");
  c.bffPath = readString(root, "bff_path", "bff_path", c.bffPath);
  if (bad.length == 0 && (!c.bffPath.startsWith("/") || !isVisibleAscii(c.bffPath))) bad = "bff_path";
  if (bad.length > 0) return err(bad, "must be a string starting with '/'");
  c.bffTimeoutMs = readInt(root, "bff_timeout_ms", "bff_timeout_ms", c.bffTimeoutMs, 1, 60000);
  if (bad.length > 0) return err(bad, "must be an integer in 1..60000");
  c.bffInternalKey = readString(root, "bff_internal_key", "bff_internal_key", c.bffInternalKey);
  if (bad.length == 0 && !isVisibleAscii(c.bffInternalKey)) bad = "bff_internal_key";
  if (bad.length > 0) return err(bad, "must be a string of visible ASCII characters");

  const cache = root.get("cache");
  if (cache !== null) {
    if (cache.kind != JKind.Obj) return err("cache", "must be an object");
    const u = checkKeys(cache, ["enabled", "slots", "skew_s", "max_ttl_s"], "cache.");
    if (u.length > 0) return err(u, "unknown field");
    const en = cache.get("enabled");
    if (en !== null) {
      if (en.kind != JKind.Bool) return err("cache.enabled", "must be a boolean");
      c.cacheEnabled = en.b;
    }
    c.cacheSlots = readInt(cache, "slots", "cache.slots", c.cacheSlots, 1, MAX_SLOTS);
    if (bad.length > 0) return err(bad, "must be an integer in 1..1048576");
    c.cacheSkewS = readInt(cache, "skew_s", "cache.skew_s", c.cacheSkewS, 0, 3600);
    if (bad.length > 0) return err(bad, "must be an integer in 0..3600");
    c.cacheMaxTtlS = readInt(cache, "max_ttl_s", "cache.max_ttl_s", c.cacheMaxTtlS, 1, 86400);
    if (bad.length > 0) return err(bad, "must be an integer in 1..86400");
  }

  const apps = root.get("apps");
  if (apps === null) return err("apps", "is required (may be an empty array)");
  if (apps.kind != JKind.Arr) return err("apps", "must be an array");
  for (let i = 0; i < apps.items.length; i++) {
    const f = "apps[" + i.toString() + "]";
    const r = parseApp(apps.items[i], f, true);
    const app = r.app;
    if (app === null) return new ConfigResult(null, "invalid configuration: " + r.error);
    for (let j = 0; j < c.apps.length; j++)
      if (c.apps[j].id == app.id) return err(f + ".id", "duplicate app id '" + app.id + "'");
    c.apps.push(app);
  }
  return new ConfigResult(c, "");
}

export class AppResult {
  constructor(
    public app: AppConfig | null,
    public error: string,
  ) {}
}

function appErr(field: string, msg: string): AppResult {
  return new AppResult(null, "field '" + field + "': " + msg);
}

/**
 * One app object. `f` names it in errors ("apps[0]", or "" for a route's
 * metadata, whose fields are then named bare). `routing`: hosts and
 * path_prefix are allowed (the plugin's app list); a route's metadata has
 * none, the route already chose the app.
 */
export function parseApp(a: JValue, f: string, routing: bool): AppResult {
  const p = f.length > 0 ? f + "." : "";
  if (a.kind != JKind.Obj) return appErr(f.length > 0 ? f : "(root)", "must be an object");
  const allowed = routing
    ? ["id", "hosts", "path_prefix", "cookie", "allowed_origins"]
    : ["id", "cookie", "allowed_origins", "bff"];
  const u = checkKeys(a, allowed, p);
  if (u.length > 0) return appErr(u, "unknown field");
  const app = new AppConfig();
  bad = "";
  app.id = readString(a, "id", p + "id", "");
  if (bad.length == 0 && !isAppId(app.id)) bad = p + "id";
  if (bad.length > 0)
    return appErr(bad, "is required: 1-63 chars of a-z, 0-9 and '-', starting and ending alphanumeric");
  if (routing) {
    app.hosts = readStrings(a, "hosts", p + "hosts", app.hosts);
    if (bad.length == 0 && app.hosts.length == 0) bad = p + "hosts";
    if (bad.length > 0) return appErr(bad, 'must be a non-empty array of host[:port] strings or "*"');
    for (let j = 0; j < app.hosts.length; j++) app.hosts[j] = app.hosts[j].toLowerCase();
    app.pathPrefix = readString(a, "path_prefix", p + "path_prefix", app.pathPrefix);
    if (bad.length == 0 && (!app.pathPrefix.startsWith("/") || !isVisibleAscii(app.pathPrefix)))
      bad = p + "path_prefix";
    if (bad.length > 0) return appErr(bad, "must be a string starting with '/'");
  }
  app.cookie = readString(a, "cookie", p + "cookie", COOKIE_NAMESPACE + app.id);
  if (bad.length == 0 && !isCookieName(app.cookie)) bad = p + "cookie";
  if (bad.length > 0)
    return appErr(
      bad,
      "must be a cookie name (RFC 6265 token) of at most 122 characters starting with '__Host-sg-', not ending with '-login'",
    );
  app.loginCookie = app.cookie + LOGIN_COOKIE_SUFFIX;
  const bff = a.get("bff");
  if (bff !== null) {
    if (bff.kind != JKind.Bool) return appErr(p + "bff", "must be a boolean");
    app.bffRoute = bff.b;
  }
  app.allowedOrigins = readStrings(a, "allowed_origins", p + "allowed_origins", app.allowedOrigins);
  if (bad.length > 0) return appErr(bad, 'must be an array of origins like "https://example.com"');
  for (let j = 0; j < app.allowedOrigins.length; j++)
    app.allowedOrigins[j] = app.allowedOrigins[j].toLowerCase();
  return new AppResult(app, "");
}

/**
 * A route's sessiongate metadata (one JSON object: id, cookie?,
 * allowed_origins?, the same meaning as in an `apps[]` entry).
 */
export function parseRouteApp(text: string): AppResult {
  const parser = new JsonParser(text);
  const root = parser.parse();
  const r = root === null ? appErr("(root)", "not valid JSON: " + parser.error) : parseApp(root, "", false);
  if (r.app === null) r.error = "invalid route metadata: " + r.error;
  return r;
}

/**
 * Whether `path` (a :path, query included) lies under `prefix` the way the
 * control plane's routes match (path_separated_prefix): "/api" matches "/api",
 * "/api/x" and "/api?q", never "/apiary". A prefix ending in '/' matches below it.
 */
export function underPrefix(path: string, prefix: string): bool {
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith("/") || path.length == prefix.length) return true;
  const c = path.charCodeAt(prefix.length);
  return c == 0x2f || c == 0x3f; // '/' or '?'
}

/** Picks the app for a request: host match ("*" or exact, case-insensitive), longest path prefix, exact host over "*". */
export function matchApp(c: Config, authority: string, path: string): AppConfig | null {
  const host = authority.toLowerCase();
  let best: AppConfig | null = null;
  let bestLen = -1;
  let bestExact = false;
  for (let i = 0; i < c.apps.length; i++) {
    const app = c.apps[i];
    let exact = false;
    let any = false;
    for (let j = 0; j < app.hosts.length; j++) {
      if (app.hosts[j] == host) exact = true;
      else if (app.hosts[j] == "*") any = true;
    }
    if (!exact && !any) continue;
    if (!underPrefix(path, app.pathPrefix)) continue;
    const len = app.pathPrefix.length;
    if (len > bestLen || (len == bestLen && exact && !bestExact)) {
      best = app;
      bestLen = len;
      bestExact = exact;
    }
  }
  return best;
}
