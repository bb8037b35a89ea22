// The BFF's configuration: types, defaults and a validator that names the
// offending field, so `main.ts` can exit 2 with a message an operator can act on.
// Over ~250 lines on purpose: the whole configuration surface in one place, read
// top to bottom beside bff/README.md's reference (its field readers are private).
import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import {
  APP_ID_RULE,
  appCookieNameProblem,
  DEFAULT_BFF_PREFIX,
  defaultCookieName,
  GROUP_RULE,
  isAppId,
  isGroupName,
} from "../../contracts/rules.js";
import { type AdminConfig, parseAdmin } from "./admin.js";

export type SessionMode = "bff" | "tokenExchange";

export interface AppConfig {
  id: string;
  mode: SessionMode;
  issuer: string;
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  postLogoutRedirectUri?: string;
  scopes: string[];
  cookie: string;
  /** Origin the app is served from (default: the redirect_uri's origin). */
  publicOrigin: string;
  /** Origins a `return_to` may point at and a CSRF-checked request may come from. */
  allowedOrigins: string[];
  /** Extra authorization parameters (e.g. `resource`, `audience`, `prompt`). */
  authParams: Record<string, string>;
  /**
   * Path before the BFF prefix where Envoy routes this app's BFF routes
   * (`<path_prefix><prefix>/<id>/...`): "" for file apps and apps on "/".
   */
  routeBase: string;
  /** Where the app came from: the config file or the xds-server's directory stream. */
  source: "file" | "registry";
  /** The app's group: one provider client for all its apps (bff/oidc/group.ts). */
  group?: string;
}

/** The xds-server's BffDirectory stream (apps registered through its API). */
export interface RegistryConfig {
  /** "host:port" of the registration API. */
  address: string;
  token: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Reconnect backoff bounds (full jitter in between). */
  backoffMinMs: number;
  backoffMaxMs: number;
}

export interface BffConfig {
  publicListen: { host: string; port: number };
  internalListen: { host: string; port: number };
  /** The listener for /metrics, /healthz, /readyz (none without `admin:`). */
  admin?: AdminConfig;
  prefix: string;
  /** Optional shared secret the filter sends as `x-sessiongate-internal-key`. */
  internalKey?: string;
  /**
   * HTTPS on the internal listener; the token endpoint then requires a client
   * certificate spiffe://<trustDomain>/<role>/* with role in callerRoles.
   */
  internalTls?: {
    certFile: string;
    keyFile: string;
    caFile: string;
    trustDomain: string;
    callerRoles: string[];
  };
  redisUrl: string;
  redisKeyPrefix: string;
  keys: { active: string; keys: Map<string, Buffer>; hashKey: Buffer };
  refreshSkewS: number;
  idleTimeoutS: number;
  absoluteTimeoutS: number;
  /** The in-process session cache (bff/session/cache.ts): entry lifetime (0 = off) and size. */
  sessionCacheMaxAgeMs: number;
  sessionCacheMaxEntries: number;
  loginTimeoutS: number;
  opTimeoutMs: number;
  refreshWaitMs: number;
  /** Backoff after a failed refresh (bff/oidc/refresh-backoff.ts): first delay and cap. */
  refreshBackoffMs: number;
  refreshBackoffMaxMs: number;
  /** Lets the BFF talk to an `http://` issuer (tests, local demo only). */
  allowInsecureIssuer: boolean;
  logLevel: string;
  apps: AppConfig[];
  registry?: RegistryConfig;
}

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`invalid config: ${field}: ${reason}`);
    this.name = "ConfigError";
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(o: Obj, key: string, path: string, def?: string): string {
  const v = o[key];
  if (v === undefined || v === null || v === "") {
    if (def !== undefined) return def;
    throw new ConfigError(`${path}${key}`, "is required");
  }
  if (typeof v !== "string") throw new ConfigError(`${path}${key}`, "must be a string");
  return v;
}

function optStr(o: Obj, key: string, path: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new ConfigError(`${path}${key}`, "must be a string");
  return v;
}

function int(o: Obj, key: string, path: string, def: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${path}${key}`, `must be an integer in [${min}, ${max}]`);
  }
  return v;
}

function obj(o: Obj, key: string, path: string): Obj {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new ConfigError(`${path}${key}`, "must be an object");
  return v;
}

export function listenAddress(v: unknown, field: string, defHost: string): { host: string; port: number } {
  if (typeof v !== "string") throw new ConfigError(field, 'must be "host:port"');
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]*)):(\d{1,5})$/.exec(v) ?? /^()()(\d{1,5})$/.exec(v);
  if (!m) throw new ConfigError(field, 'must be "host:port" (or a port)');
  const port = Number(m[3]);
  if (port > 65535) throw new ConfigError(field, "port out of range");
  return { host: m[1] || m[2] || defHost, port };
}

function url(v: string, field: string, protocols: string[]): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(field, "must be an absolute URL");
  }
  if (!protocols.includes(u.protocol))
    throw new ConfigError(field, `scheme must be one of ${protocols.join(", ")}`);
  if (u.hash) throw new ConfigError(field, "must not have a fragment");
  return u;
}

function key32(v: unknown, field: string): Buffer {
  if (typeof v !== "string") throw new ConfigError(field, "must be a base64 string");
  const b = Buffer.from(v, "base64");
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(v) || b.length !== 32) {
    throw new ConfigError(field, "must be exactly 32 bytes, base64-encoded");
  }
  return b;
}

function parseKeys(raw: Obj): BffConfig["keys"] {
  const k = obj(raw, "keys", "");
  const entries = obj(k, "keys", "keys.");
  const keys = new Map<string, Buffer>();
  for (const [id, v] of Object.entries(entries)) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id))
      throw new ConfigError(`keys.keys.${id}`, "key id must be 1..32 of [A-Za-z0-9_-]");
    keys.set(id, key32(v, `keys.keys.${id}`));
  }
  if (keys.size === 0) throw new ConfigError("keys.keys", "needs at least one key (id -> 32-byte base64)");
  const active = str(k, "active", "keys.", keys.size === 1 ? [...keys.keys()][0] : undefined);
  if (!keys.has(active)) throw new ConfigError("keys.active", `names no key in keys.keys`);
  const hk = optStr(k, "hash_key", "keys.");
  // Without a pepper, HMAC with a fixed label is a domain-separated SHA-256: still
  // irreversible for 256-bit random ids; a configured hash_key adds defence in depth.
  const hashKey = hk ? key32(hk, "keys.hash_key") : Buffer.from("sessiongate/session-key/v1");
  return { active, keys, hashKey };
}

function file(path: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path}: ${(err as Error).message}`);
  }
}

function parseRegistry(raw: Obj): RegistryConfig | undefined {
  if (raw.registry === undefined || raw.registry === null) return undefined;
  const r = obj(raw, "registry", "");
  const address = str(r, "address", "registry.");
  if (
    !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address) ||
    Number(address.split(":").pop()) > 65535
  )
    throw new ConfigError("registry.address", 'must be "host:port"');
  const inline = optStr(r, "token", "registry.");
  const tokenFile = optStr(r, "token_file", "registry.");
  if (inline && tokenFile) throw new ConfigError("registry.token", "give token or token_file, not both");
  const token = inline ?? (tokenFile ? file(tokenFile, "registry.token_file").toString("utf8").trim() : "");
  if (!token) throw new ConfigError("registry.token", "is required (or registry.token_file)");
  if (token.length < 16 || !/^[\x21-\x7e]+$/.test(token))
    throw new ConfigError(
      inline ? "registry.token" : "registry.token_file",
      "must be >= 16 printable characters",
    );
  let tls: RegistryConfig["tls"];
  if (r.tls !== undefined && r.tls !== null) {
    const t = obj(r, "tls", "registry.");
    const [ca, cert, key] = ["ca", "cert", "key"].map((k) => optStr(t, k, "registry.tls."));
    if (Boolean(cert) !== Boolean(key))
      throw new ConfigError("registry.tls.cert", "cert and key go together");
    tls = {
      ca: ca ? file(ca, "registry.tls.ca") : undefined,
      cert: cert ? file(cert, "registry.tls.cert") : undefined,
      key: key ? file(key, "registry.tls.key") : undefined,
    };
  }
  const backoffMinMs = int(r, "backoff_min_ms", "registry.", 500, 10, 60_000);
  const backoffMaxMs = int(r, "backoff_max_ms", "registry.", 30_000, backoffMinMs, 600_000);
  return { address, token, tls, backoffMinMs, backoffMaxMs };
}

/** Validates one app; `at` names it in errors ("apps[0]", "registry app web"). */
export function parseApp(raw: unknown, at: string, seen: Set<string>): AppConfig {
  const p = `${at}.`;
  if (!isObj(raw)) throw new ConfigError(at, "must be an object");
  const id = str(raw, "id", p);
  if (!isAppId(id)) throw new ConfigError(`${p}id`, APP_ID_RULE);
  if (seen.has(id)) throw new ConfigError(`${p}id`, `duplicate app id "${id}"`);
  seen.add(id);
  const mode = str(raw, "mode", p, "bff");
  if (mode !== "bff" && mode !== "tokenExchange")
    throw new ConfigError(`${p}mode`, 'must be "bff" or "tokenExchange"');
  const issuer = str(raw, "issuer", p);
  url(issuer, `${p}issuer`, ["https:", "http:"]);
  const redirectUri = str(raw, "redirect_uri", p);
  const ru = url(redirectUri, `${p}redirect_uri`, ["https:", "http:"]);
  const post = optStr(raw, "post_logout_redirect_uri", p);
  if (post) url(post, `${p}post_logout_redirect_uri`, ["https:", "http:"]);
  // The registry's default too. No offline_access unless asked for: an offline
  // grant outlives the provider's logout (see the README's provider table).
  const scopesRaw = raw.scopes ?? ["openid"];
  const scopes = typeof scopesRaw === "string" ? scopesRaw.split(/\s+/).filter(Boolean) : scopesRaw;
  if (
    !Array.isArray(scopes) ||
    !scopes.every((s) => typeof s === "string" && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))
  ) {
    throw new ConfigError(`${p}scopes`, "must be a list of scope tokens");
  }
  if (!scopes.includes("openid")) throw new ConfigError(`${p}scopes`, 'must include "openid"');
  const cookie = str(raw, "cookie", p, defaultCookieName(id));
  const cookieProblem = appCookieNameProblem(cookie);
  if (cookieProblem) throw new ConfigError(`${p}cookie`, cookieProblem);
  const publicOrigin = url(str(raw, "public_origin", p, ru.origin), `${p}public_origin`, [
    "https:",
    "http:",
  ]).origin;
  const originsRaw = raw.allowed_origins ?? [publicOrigin];
  if (!Array.isArray(originsRaw)) throw new ConfigError(`${p}allowed_origins`, "must be a list of origins");
  const allowedOrigins = originsRaw.map((o, j) => {
    if (typeof o !== "string") throw new ConfigError(`${p}allowed_origins[${j}]`, "must be a string");
    const u = url(o, `${p}allowed_origins[${j}]`, ["https:", "http:"]);
    if (u.origin !== o.replace(/\/$/, ""))
      throw new ConfigError(`${p}allowed_origins[${j}]`, "must be a bare origin (scheme://host[:port])");
    return u.origin;
  });
  if (!allowedOrigins.includes(publicOrigin)) allowedOrigins.unshift(publicOrigin);
  const ap = obj(raw, "auth_params", p);
  const authParams: Record<string, string> = {};
  for (const [k, v] of Object.entries(ap)) {
    if (typeof v !== "string") throw new ConfigError(`${p}auth_params.${k}`, "must be a string");
    authParams[k] = v;
  }
  const group = optStr(raw, "group", p);
  if (group !== undefined && !isGroupName(group)) throw new ConfigError(`${p}group`, GROUP_RULE);
  return {
    ...(group ? { group } : {}),
    id,
    mode,
    issuer,
    clientId: str(raw, "client_id", p),
    clientSecret: optStr(raw, "client_secret", p),
    redirectUri,
    postLogoutRedirectUri: post,
    scopes,
    cookie,
    publicOrigin,
    allowedOrigins,
    authParams,
    routeBase: "",
    source: "file",
  };
}

/**
 * The apps of a group share one provider client: the same issuer and client
 * id on every member (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps).
 */
export function checkGroups(apps: AppConfig[], at = (i: number) => `apps[${i}]`): void {
  const first = new Map<string, AppConfig>();
  apps.forEach((a, i) => {
    if (!a.group) return;
    const f = first.get(a.group);
    if (!f) first.set(a.group, a);
    else if (f.issuer !== a.issuer || f.clientId !== a.clientId)
      throw new ConfigError(
        `${at(i)}.client_id`,
        `group ${a.group} shares one provider client: issuer and client_id must equal app ${f.id}'s`,
      );
    else if (f.clientSecret !== a.clientSecret)
      throw new ConfigError(
        `${at(i)}.client_secret`,
        `group ${a.group} shares one provider client: client_secret must equal app ${f.id}'s`,
      );
  });
}

/** Validates a parsed YAML/JSON document; throws ConfigError naming the field. */
export function validateConfig(raw: unknown): BffConfig {
  if (!isObj(raw)) throw new ConfigError("(root)", "must be a mapping");
  const pub = obj(raw, "public", "");
  const internal = obj(raw, "internal", "");
  const redis = obj(raw, "redis", "");
  const session = obj(raw, "session", "");
  const timeouts = obj(raw, "timeouts", "");
  const prefix = str(pub, "prefix", "public.", DEFAULT_BFF_PREFIX);
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix))
    throw new ConfigError("public.prefix", 'must look like "/auth" (no trailing slash)');
  const redisUrl = str(redis, "url", "redis.");
  // Not WHATWG URL: Sentinel/Cluster forms list several comma-separated hosts.
  if (
    !/^rediss?(-sentinel|-cluster)?:\/\/([^:@/\s]*(:[^@/\s]*)?@)?[^/?@\s]+(\/[^?\s]*)?(\?\S*)?$/.test(
      redisUrl,
    )
  ) {
    throw new ConfigError(
      "redis.url",
      "must be redis://, rediss://, redis-sentinel://h1:p1,h2:p2/<master> or redis-cluster://h1:p1,h2:p2",
    );
  }
  const idleTimeoutS = int(session, "idle_timeout_s", "session.", 1800, 1, 30 * 86400);
  const absoluteTimeoutS = int(session, "absolute_timeout_s", "session.", 8 * 3600, 1, 90 * 86400);
  if (absoluteTimeoutS < idleTimeoutS)
    throw new ConfigError("session.absolute_timeout_s", "must be >= session.idle_timeout_s");
  const opTimeoutMs = int(timeouts, "op_ms", "timeouts.", 5000, 100, 60_000);
  // Waiters must outlast the refresh lock (2 x op_ms + 1 s, see oidc/tokens.ts), so a
  // replica that dies mid-refresh is taken over instead of everyone timing out.
  const refreshWaitMs = int(timeouts, "refresh_wait_ms", "timeouts.", 2 * opTimeoutMs + 3000, 100, 180_000);
  if (refreshWaitMs <= 2 * opTimeoutMs + 1000) {
    throw new ConfigError(
      "timeouts.refresh_wait_ms",
      "must exceed 2 x timeouts.op_ms + 1000 (the refresh lock lifetime)",
    );
  }
  const refreshBackoffMs = int(timeouts, "refresh_backoff_ms", "timeouts.", 1000, 0, 600_000);
  const refreshBackoffMaxMs = int(timeouts, "refresh_backoff_max_ms", "timeouts.", 10_000, 0, 3_600_000);
  if (refreshBackoffMaxMs < refreshBackoffMs)
    throw new ConfigError("timeouts.refresh_backoff_max_ms", "must be >= timeouts.refresh_backoff_ms");
  const publicListen = listenAddress(pub.listen ?? "0.0.0.0:8080", "public.listen", "0.0.0.0");
  const internalListen = listenAddress(internal.listen ?? "127.0.0.1:8081", "internal.listen", "127.0.0.1");
  if (publicListen.port !== 0 && publicListen.port === internalListen.port) {
    // The internal port must never be the public one (docs/architecture.md#invariant-7).
    throw new ConfigError("internal.listen", "must use another port than public.listen");
  }
  const registry = parseRegistry(raw);
  // With a registry the file may list no app: they all come over the stream.
  const appsRaw = raw.apps ?? (registry ? [] : undefined);
  if (!Array.isArray(appsRaw) || (appsRaw.length === 0 && !registry))
    throw new ConfigError(
      "apps",
      registry ? "must be a list" : "must be a non-empty list (or configure registry)",
    );
  const seen = new Set<string>();
  const apps = appsRaw.map((a, i) => parseApp(a, `apps[${i}]`, seen));
  checkGroups(apps);
  const internalKey = optStr(internal, "key", "internal.");
  if (internalKey !== undefined && internalKey.length < 16)
    throw new ConfigError("internal.key", "must be at least 16 characters");
  let internalTls: BffConfig["internalTls"];
  if (internal.tls !== undefined) {
    const t = obj(internal, "tls", "internal.");
    const rolesRaw = t.caller_roles ?? ["gateway", "sidecar"];
    if (
      !Array.isArray(rolesRaw) ||
      rolesRaw.length === 0 ||
      rolesRaw.some((r) => r !== "gateway" && r !== "sidecar")
    )
      throw new ConfigError("internal.tls.caller_roles", "must be a non-empty list of gateway, sidecar");
    const trustDomain = str(t, "trust_domain", "internal.tls.");
    if (!/^[a-z0-9._-]{1,255}$/.test(trustDomain))
      throw new ConfigError("internal.tls.trust_domain", "must be a SPIFFE trust domain like example.org");
    internalTls = {
      certFile: str(t, "cert_file", "internal.tls."),
      keyFile: str(t, "key_file", "internal.tls."),
      caFile: str(t, "ca_file", "internal.tls."),
      trustDomain,
      callerRoles: rolesRaw as string[],
    };
  }
  const logLevel = str(raw, "log_level", "", "info");
  if (!["trace", "debug", "info", "warn", "error", "fatal", "silent"].includes(logLevel)) {
    throw new ConfigError("log_level", "must be one of trace|debug|info|warn|error|fatal|silent");
  }
  const allowInsecure = raw.allow_insecure_issuer ?? false;
  if (typeof allowInsecure !== "boolean")
    throw new ConfigError("allow_insecure_issuer", "must be true or false");
  if (!allowInsecure) {
    for (const [i, a] of apps.entries()) {
      if (a.issuer.startsWith("http:"))
        throw new ConfigError(
          `apps[${i}].issuer`,
          "is http:// (set allow_insecure_issuer: true for local tests only)",
        );
    }
  }
  const admin = parseAdmin(raw, [
    { field: "public.listen", port: publicListen.port },
    { field: "internal.listen", port: internalListen.port },
  ]);
  return {
    publicListen,
    internalListen,
    ...(admin ? { admin } : {}),
    prefix,
    internalKey,
    ...(internalTls ? { internalTls } : {}),
    redisUrl,
    redisKeyPrefix: str(redis, "key_prefix", "redis.", "sg:"),
    keys: parseKeys(raw),
    refreshSkewS: int(session, "refresh_skew_s", "session.", 30, 0, 3600),
    idleTimeoutS,
    absoluteTimeoutS,
    sessionCacheMaxAgeMs: int(session, "cache_max_age_ms", "session.", 5000, 0, 60_000),
    sessionCacheMaxEntries: int(session, "cache_max_entries", "session.", 10_000, 1, 1_000_000),
    loginTimeoutS: int(session, "login_timeout_s", "session.", 600, 30, 3600),
    opTimeoutMs,
    refreshWaitMs,
    refreshBackoffMs,
    refreshBackoffMaxMs,
    allowInsecureIssuer: allowInsecure,
    logLevel,
    apps,
    ...(registry ? { registry } : {}),
  };
}
