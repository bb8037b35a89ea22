// Validation of an app spec as received from the API. Every error names the
// field (proto field path, snake_case) so INVALID_ARGUMENT is actionable.

import { createHash } from "node:crypto";
import {
  APP_ID_RULE,
  cookieNameProblem,
  DEFAULT_BFF_PREFIX,
  defaultCookieName,
  isAppId,
} from "../../contracts/rules.js";
import { parseSpiffeId } from "../identity/spiffe.js";
import { bad, hasControl, isHostname, list, noDuplicates, parseHostPort, port, str, url } from "./fields.js";
import { publicPaths } from "./public-paths.js";
import type { AppRecord, AppSpec } from "./types.js";

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

const PREFIX_RE = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,255}$/;
const CLAIM_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;
const HEADER_RE = /^[a-z0-9][a-z0-9-]{0,127}$/;
const SCOPE_RE = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const SERVICE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export { DEFAULT_BFF_PREFIX };

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
  if (!isAppId(id)) bad("id", APP_ID_RULE);

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
  const cookieName = s.cookieName || defaultCookieName(id);
  // The BFF refuses the same names (contracts/rules.ts): an app the API accepts is one the BFF serves.
  const cookieProblem = cookieNameProblem(cookieName);
  if (cookieProblem) bad("session.cookie_name", cookieProblem);
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
  // Optional: when left out, the API layer takes it from the issuer's discovery
  // document (registry/jwks-discovery.ts) before the spec is stored.
  const remoteJwksUri = url("jwt.remote_jwks_uri", j.remoteJwksUri, false);
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
