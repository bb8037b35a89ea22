// Plugin configuration (JSON, docs/architecture.md#filter-plugin-configuration).
// Every key but "apps" is optional. Unknown keys are refused so that a typo
// cannot silently disable a check; every error names the field.
import { JKind, JsonParser, JValue } from "./json";
import { COOKIE_NAMESPACE, isAppId, isCookieName, LOGIN_COOKIE_SUFFIX } from "./rules";

export class AppConfig {
  id: string = "";
  /** `id` as bytes (an app id is ASCII), encoded once: the static mode's x-sessiongate-app value. */
  idBytes: ArrayBuffer = new ArrayBuffer(0);
  hosts: string[] = ["*"];
  pathPrefix: string = "/";
  /** `hosts` (lower-case, visible ASCII) as bytes, without "*", and whether "*" is one of them: matchAppAt compares bytes in place. */
  hostBytes: ArrayBuffer[] = [];
  anyHost: bool = true;
  pathPrefixBytes: ArrayBuffer = String.UTF8.encode("/");
  cookie: string = "";
  /** `<cookie>-login`, the BFF's login-state cookie of this app. */
  loginCookie: string = "";
  /** `cookie` and `loginCookie` as bytes (cookie names are ASCII): the cookie scan compares bytes in place. */
  cookieBytes: ArrayBuffer = new ArrayBuffer(0);
  loginCookieBytes: ArrayBuffer = new ArrayBuffer(0);
  /** This app's per-app counters (metrics.ts), looked up once per app, not per request; null until then. */
  counters: u32[] | null = null;
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
  return v.strValue;
}

function readInt(o: JValue, key: string, field: string, def: u32, min: f64, max: f64): u32 {
  const v = o.get(key);
  if (v === null) return def;
  if (v.kind != JKind.Num || v.numValue != Math.floor(v.numValue) || v.numValue < min || v.numValue > max) {
    bad = field;
    return def;
  }
  return <u32>v.numValue;
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
    if (it.kind != JKind.Str || it.strValue.length == 0 || !isVisibleAscii(it.strValue)) {
      bad = field + "[" + i.toString() + "]";
      return def;
    }
    out.push(it.strValue);
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
      c.cacheEnabled = en.boolValue;
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
    // An app may appear twice: once for its own paths and once, "bff": true,
    // for its BFF routes (Istio and other Envoys whose routes carry no metadata).
    for (let j = 0; j < c.apps.length; j++) {
      const o = c.apps[j];
      if (o.id != app.id) continue;
      if (o.bffRoute == app.bffRoute) return err(f + ".id", "duplicate app id '" + app.id + "'");
      if (o.cookie != app.cookie) return err(f + ".cookie", "must equal the cookie of app '" + app.id + "'");
    }
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
 * none, the route already chose the app. `bff` is allowed in both: in the
 * plugin's list it marks the entry matching the app's BFF routes.
 */
export function parseApp(a: JValue, f: string, routing: bool): AppResult {
  const p = f.length > 0 ? f + "." : "";
  if (a.kind != JKind.Obj) return appErr(f.length > 0 ? f : "(root)", "must be an object");
  const allowed = routing
    ? ["id", "hosts", "path_prefix", "cookie", "allowed_origins", "bff"]
    : ["id", "cookie", "allowed_origins", "bff"];
  const u = checkKeys(a, allowed, p);
  if (u.length > 0) return appErr(u, "unknown field");
  const app = new AppConfig();
  bad = "";
  app.id = readString(a, "id", p + "id", "");
  if (bad.length == 0 && !isAppId(app.id)) bad = p + "id";
  if (bad.length > 0)
    return appErr(bad, "is required: 1-63 chars of a-z, 0-9 and '-', starting and ending alphanumeric");
  app.idBytes = String.UTF8.encode(app.id);
  if (routing) {
    app.hosts = readStrings(a, "hosts", p + "hosts", app.hosts);
    if (bad.length == 0 && app.hosts.length == 0) bad = p + "hosts";
    if (bad.length > 0) return appErr(bad, 'must be a non-empty array of host[:port] strings or "*"');
    for (let j = 0; j < app.hosts.length; j++) app.hosts[j] = app.hosts[j].toLowerCase();
    app.pathPrefix = readString(a, "path_prefix", p + "path_prefix", app.pathPrefix);
    if (bad.length == 0 && (!app.pathPrefix.startsWith("/") || !isVisibleAscii(app.pathPrefix)))
      bad = p + "path_prefix";
    if (bad.length > 0) return appErr(bad, "must be a string starting with '/'");
    app.anyHost = false;
    for (let j = 0; j < app.hosts.length; j++) {
      if (app.hosts[j] == "*") app.anyHost = true;
      else app.hostBytes.push(String.UTF8.encode(app.hosts[j]));
    }
    app.pathPrefixBytes = String.UTF8.encode(app.pathPrefix);
  }
  app.cookie = readString(a, "cookie", p + "cookie", COOKIE_NAMESPACE + app.id);
  if (bad.length == 0 && !isCookieName(app.cookie)) bad = p + "cookie";
  if (bad.length > 0)
    return appErr(
      bad,
      "must be a cookie name (RFC 6265 token) of at most 122 characters starting with '__Host-sg-', not ending with '-login'",
    );
  app.loginCookie = app.cookie + LOGIN_COOKIE_SUFFIX;
  app.cookieBytes = String.UTF8.encode(app.cookie);
  app.loginCookieBytes = String.UTF8.encode(app.loginCookie);
  const bff = a.get("bff");
  if (bff !== null) {
    if (bff.kind != JKind.Bool) return appErr(p + "bff", "must be a boolean");
    app.bffRoute = bff.boolValue;
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
