// Validation of an app spec as received from the API. Every error names the
// field (proto field path, snake_case) so INVALID_ARGUMENT is actionable.

import { createHash } from "node:crypto";
import { parseSpiffeId } from "../identity/spiffe.js";
import { type AppRecord, type AppSpec, type HostPort, RegistryError } from "./types.js";

/** Structural shape of sessiongate.v1.AppSpec (protobuf-es, camelCase). */
export interface RawAppSpec {
  id?: string;
  hosts?: string[];
  pathPrefix?: string;
  oidc?: {
    issuer?: string;
    clientId?: string;
    clientSecret?: string;
    scopes?: string[];
    publicOrigin?: string;
    postLogoutRedirectUri?: string;
    authParams?: { [k: string]: string };
  };
  session?: { mode?: string; cookieName?: string; allowedOrigins?: string[] };
  upstreams?: string[];
  jwt?: {
    issuer?: string;
    audiences?: string[];
    remoteJwksUri?: string;
    claimHeaders?: { claim?: string; header?: string }[];
    jwksCacheDurationS?: number;
  };
  extAuthz?: { target?: string; timeoutMs?: number; failMode?: string };
  sidecar?: { service?: string; inboundPort?: number; allowedCallers?: string[] };
  publicPaths?: string[];
}

const ID_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const PREFIX_RE = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,255}$/;
const CLAIM_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;
const HEADER_RE = /^[a-z0-9][a-z0-9-]{0,127}$/;
const COOKIE_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const SCOPE_RE = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A public path without its "/*": URL path characters but no '%' (one spelling per path) and no '*'. */
const PUBLIC_PATH_RE = /^\/[A-Za-z0-9._~!$&'()+,;=:@/-]{0,255}$/;
/** Default BFF route prefix (xds-server --bff-prefix). */
export const DEFAULT_BFF_PREFIX = "/auth";
/** Headers a JWT claim may not overwrite: routing, auth and hop-by-hop. */
const RESERVED_HEADERS = new Set([
  "authorization",
  "cookie",
  "host",
  "content-length",
  "content-type",
  "connection",
  "transfer-encoding",
  "te",
  "upgrade",
  "proxy-authorization",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-envoy-original-path",
]);

/** Control characters (C0 and DEL) are never valid in names, URLs or secrets. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function bad(field: string, why: string): never {
  throw new RegistryError("INVALID_ARGUMENT", `${field}: ${why}`, field);
}

function isHostname(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return h.split(".").every((o) => Number(o) <= 255);
  if (h.startsWith("[") && h.endsWith("]")) return /^[0-9a-fA-F:.]+$/.test(h.slice(1, -1));
  return h.split(".").every((l) => LABEL_RE.test(l));
}

function port(field: string, p: string | number): number {
  const n = typeof p === "number" ? p : /^\d{1,5}$/.test(p) ? Number(p) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    bad(field, `port must be 1..65535, got ${JSON.stringify(p)}`);
  return n;
}

/** Parses "host:port" (IPv6 in brackets). */
export function parseHostPort(field: string, v: string): HostPort {
  if (typeof v !== "string" || v.length > 300) bad(field, "expected host:port");
  const i = v.lastIndexOf(":");
  if (i <= 0) bad(field, `expected host:port, got ${JSON.stringify(v)}`);
  const host = v.slice(0, i);
  if (!isHostname(host)) bad(field, `invalid host ${JSON.stringify(host)}`);
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port: port(field, v.slice(i + 1)) };
}

function url(field: string, v: string | undefined, required: boolean): string {
  if (!v) {
    if (required) bad(field, "required");
    return "";
  }
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    bad(field, `not a URL: ${JSON.stringify(v.slice(0, 100))}`);
  }
  if (u.username || u.password) bad(field, "must not contain credentials");
  if (u.hash) bad(field, "must not contain a fragment");
  // *.localhost is loopback too (RFC 6761): local multi-app setups (the demo) give each app such a host.
  const loopback =
    ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname) || u.hostname.endsWith(".localhost");
  if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) {
    bad(field, "must be https (http only for loopback hosts)");
  }
  return v;
}

function str(field: string, v: string | undefined, max = 256): string {
  if (!v) bad(field, "required");
  if (v.length > max) bad(field, `longer than ${max} characters`);
  if (hasControl(v)) bad(field, "contains control characters");
  return v;
}

function list<T>(field: string, v: T[] | undefined, min: number, max: number): T[] {
  const a = v ?? [];
  if (a.length < min)
    bad(field, min === 1 ? "at least one entry required" : `at least ${min} entries required`);
  if (a.length > max) bad(field, `at most ${max} entries`);
  return a;
}

function noDuplicates(field: string, a: string[]): void {
  const seen = new Set<string>();
  for (const [i, x] of a.entries()) {
    if (seen.has(x.toLowerCase())) bad(`${field}[${i}]`, `duplicate ${JSON.stringify(x)}`);
    seen.add(x.toLowerCase());
  }
}

/** `path` is `base` or below it ("/" contains everything). */
export function pathWithin(path: string, base: string): boolean {
  return path === base || path.startsWith(base === "/" ? "/" : `${base}/`);
}

/**
 * public_paths: "/x" exact or "/x/*" prefix, under path_prefix and never over
 * the BFF routes (<path_prefix><bffPrefix>, which read the session cookie).
 */
function publicPaths(raw: string[] | undefined, pathPrefix: string, bffPrefix: string): string[] {
  const bff = (pathPrefix === "/" ? "" : pathPrefix) + bffPrefix;
  const out = list("public_paths", raw, 0, 64).map((p, i) => {
    const f = `public_paths[${i}]`;
    if (typeof p !== "string" || p.length === 0) bad(f, "required");
    if (p.length > 256) bad(f, "longer than 256 characters");
    if (hasControl(p)) bad(f, "contains control characters");
    if (!p.startsWith("/")) bad(f, "must start with '/'");
    if (p.includes("?") || p.includes("#")) bad(f, "must be a path (no query or fragment)");
    const prefix = p.endsWith("/*");
    const base = prefix ? p.slice(0, -2) || "/" : p;
    if (base.includes("*")) bad(f, "'*' is only allowed as a trailing \"/*\"");
    if (!PUBLIC_PATH_RE.test(base)) bad(f, "must contain only URL path characters (no '%')");
    if (/(^|\/)\.\.?(\/|$)/.test(base) || base.includes("//"))
      bad(f, "must be normalised (no '.', '..' or '//')");
    if (!pathWithin(base, pathPrefix)) bad(f, `must lie under path_prefix ${pathPrefix}`);
    if (pathWithin(base, bff) || (prefix && pathWithin(bff, base)))
      bad(f, `must not overlap the BFF routes ${bff}`);
    return p;
  });
  const seen = new Set<string>();
  for (const [i, p] of out.entries()) {
    if (seen.has(p)) bad(`public_paths[${i}]`, `duplicate ${JSON.stringify(p)}`);
    seen.add(p);
  }
  return out;
}

/** Authorization parameters the BFF sets itself; an app may not override them. */
const RESERVED_AUTH_PARAMS = new Set([
  "client_id",
  "client_secret",
  "code_challenge",
  "code_challenge_method",
  "nonce",
  "redirect_uri",
  "request",
  "request_uri",
  "response_mode",
  "response_type",
  "scope",
  "state",
]);

/** The BFF side of the OIDC client: public origin, post-logout URI, extra auth params. */
function bffClient(o: NonNullable<RawAppSpec["oidc"]>): Partial<AppSpec["oidc"]> {
  const out: Partial<AppSpec["oidc"]> = {};
  if (o.publicOrigin) {
    url("oidc.public_origin", o.publicOrigin, true);
    const origin = new URL(o.publicOrigin).origin;
    if (origin !== o.publicOrigin.replace(/\/$/, ""))
      bad("oidc.public_origin", "must be an origin (scheme://host[:port], no path)");
    out.publicOrigin = origin;
  }
  const post = url("oidc.post_logout_redirect_uri", o.postLogoutRedirectUri, false);
  if (post) out.postLogoutRedirectUri = post;
  const params = Object.entries(o.authParams ?? {});
  if (params.length > 16) bad("oidc.auth_params", "at most 16 entries");
  for (const [k, v] of params) {
    const f = `oidc.auth_params.${k.slice(0, 64)}`;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(k)) bad(f, "invalid parameter name");
    if (RESERVED_AUTH_PARAMS.has(k)) bad(f, "set by the BFF itself");
    str(f, v, 512);
  }
  if (params.length) out.authParams = Object.fromEntries(params);
  return out;
}

/**
 * Validates and normalises an app spec. `existing` is the stored record on
 * update (an empty client_secret then keeps the stored one).
 */
export function validateApp(
  raw: RawAppSpec | undefined,
  existing?: AppRecord,
  bffPrefix = DEFAULT_BFF_PREFIX,
): { spec: AppSpec; clientSecret: string } {
  if (!raw) bad("app", "required");
  const id = raw.id ?? "";
  if (!ID_RE.test(id)) bad("id", "must be 1-63 chars of a-z, 0-9 and '-', starting and ending alphanumeric");

  const hosts = list("hosts", raw.hosts, 1, 32).map((h, i) => {
    const f = `hosts[${i}]`;
    if (h === "*") return h;
    if (typeof h !== "string" || h.length === 0) bad(f, "required");
    const m = /^(.*?)(?::(\d{1,5}))?$/.exec(h);
    if (!m || !isHostname(m[1])) bad(f, `invalid host ${JSON.stringify(h.slice(0, 100))}`);
    if (m[2] !== undefined) port(f, m[2]);
    return h.toLowerCase();
  });
  noDuplicates("hosts", hosts);

  const pathPrefix = raw.pathPrefix || "/";
  if (!PREFIX_RE.test(pathPrefix))
    bad("path_prefix", "must start with '/' and contain only URL path characters");
  if (/(^|\/)\.\.?(\/|$)/.test(pathPrefix) || pathPrefix.includes("//"))
    bad("path_prefix", "must be normalised (no '.', '..' or '//')");
  if (pathPrefix.length > 1 && pathPrefix.endsWith("/"))
    bad("path_prefix", "must not end with '/' (except the root '/')");

  const o = raw.oidc;
  if (!o) bad("oidc", "required");
  const issuer = url("oidc.issuer", o.issuer, true);
  const clientId = str("oidc.client_id", o.clientId);
  const scopes = list("oidc.scopes", o.scopes?.length ? o.scopes : ["openid"], 1, 32);
  for (const [i, s] of scopes.entries())
    if (!SCOPE_RE.test(s)) bad(`oidc.scopes[${i}]`, "invalid scope token");
  if (!scopes.includes("openid")) bad("oidc.scopes", "must include 'openid'");
  let clientSecret = o.clientSecret ?? "";
  if (clientSecret.length > 512) bad("oidc.client_secret", "longer than 512 characters");
  if (hasControl(clientSecret)) bad("oidc.client_secret", "contains control characters");
  if (!clientSecret) {
    if (!existing?.clientSecret)
      bad("oidc.client_secret", "required (write-only; leave empty on update to keep it)");
    clientSecret = existing.clientSecret;
  }

  const s = raw.session ?? {};
  const mode = s.mode || "bff";
  if (mode !== "bff" && mode !== "tokenExchange")
    bad("session.mode", `must be "bff" or "tokenExchange", got ${JSON.stringify(mode.slice(0, 40))}`);
  const cookieName = s.cookieName || `__Host-sg-${id}`;
  if (!COOKIE_RE.test(cookieName)) bad("session.cookie_name", "invalid cookie name");
  const allowedOrigins = list("session.allowed_origins", s.allowedOrigins, 0, 32).map((v, i) => {
    const f = `session.allowed_origins[${i}]`;
    url(f, v, true);
    if (new URL(v).origin !== v) bad(f, "must be an origin (scheme://host[:port], no path)");
    return v;
  });

  const upstreams = list("upstreams", raw.upstreams, 1, 64).map((u, i) =>
    parseHostPort(`upstreams[${i}]`, u),
  );
  noDuplicates("upstreams", raw.upstreams ?? []);

  const j = raw.jwt;
  if (!j) bad("jwt", "required");
  const jwtIssuer = str("jwt.issuer", j.issuer, 512);
  const audiences = list("jwt.audiences", j.audiences, 1, 16);
  for (const [i, a] of audiences.entries()) str(`jwt.audiences[${i}]`, a);
  const remoteJwksUri = url("jwt.remote_jwks_uri", j.remoteJwksUri, true);
  const claimHeaders = list("jwt.claim_headers", j.claimHeaders, 0, 32).map((c, i) => {
    if (!c.claim || !CLAIM_RE.test(c.claim)) bad(`jwt.claim_headers[${i}].claim`, "invalid claim name");
    const header = (c.header ?? "").toLowerCase();
    if (!HEADER_RE.test(header)) bad(`jwt.claim_headers[${i}].header`, "invalid header name");
    if (
      RESERVED_HEADERS.has(header) ||
      header.startsWith("x-envoy-") ||
      header.startsWith("x-sessiongate-")
    ) {
      bad(`jwt.claim_headers[${i}].header`, `reserved header ${JSON.stringify(header)}`);
    }
    return { claim: c.claim, header };
  });
  noDuplicates(
    "jwt.claim_headers",
    claimHeaders.map((c) => c.header),
  );
  const jwksCacheDurationS = j.jwksCacheDurationS || 300;
  if (jwksCacheDurationS > 86400) bad("jwt.jwks_cache_duration_s", "at most 86400");

  let extAuthz: AppSpec["extAuthz"];
  if (raw.extAuthz) {
    const e = raw.extAuthz;
    const hp = parseHostPort("ext_authz.target", e.target ?? "");
    const timeoutMs = e.timeoutMs || 1000;
    if (timeoutMs > 60000) bad("ext_authz.timeout_ms", "at most 60000");
    const failMode = e.failMode || "closed";
    if (failMode !== "closed" && failMode !== "open")
      bad("ext_authz.fail_mode", `must be "closed" or "open"`);
    extAuthz = { ...hp, timeoutMs, failMode };
  }

  let sidecar: AppSpec["sidecar"];
  if (raw.sidecar) {
    const sc = raw.sidecar;
    if (!sc.service || !SERVICE_RE.test(sc.service)) bad("sidecar.service", "invalid service name");
    const callers = sc.allowedCallers ?? [];
    if (callers.length > 64) bad("sidecar.allowed_callers", "at most 64 entries");
    const seenCallers = new Set<string>();
    for (const [i, c] of callers.entries()) {
      try {
        parseSpiffeId(c);
      } catch (e) {
        bad(`sidecar.allowed_callers[${i}]`, (e as Error).message);
      }
      if (seenCallers.has(c)) bad(`sidecar.allowed_callers[${i}]`, `duplicate ${c}`);
      seenCallers.add(c);
    }
    sidecar = {
      service: sc.service,
      inboundPort: port("sidecar.inbound_port", sc.inboundPort ?? 0),
      ...(callers.length ? { allowedCallers: [...callers] } : {}),
    };
  }

  const pub = publicPaths(raw.publicPaths, pathPrefix, bffPrefix);

  return {
    spec: {
      id,
      hosts,
      pathPrefix,
      oidc: { issuer, clientId, scopes, ...bffClient(o) },
      session: { mode, cookieName, allowedOrigins },
      upstreams,
      jwt: { issuer: jwtIssuer, audiences, remoteJwksUri, claimHeaders, jwksCacheDurationS },
      ...(extAuthz ? { extAuthz } : {}),
      ...(sidecar ? { sidecar } : {}),
      ...(pub.length ? { publicPaths: pub } : {}),
    },
    clientSecret,
  };
}

/** What GetApp shows instead of the secret. */
export function secretStatus(secret: string): string {
  if (!secret) return "";
  return `set (sha256:${createHash("sha256").update(secret).digest("hex").slice(0, 8)})`;
}
