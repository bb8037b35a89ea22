// Validation of an app spec as received from the API. Every error names the
// field (proto field path, snake_case) so INVALID_ARGUMENT is actionable.

import { createHash } from "node:crypto";
import {
  APP_ID_RULE,
  appCookieNameProblem,
  DEFAULT_BFF_PREFIX,
  defaultCookieName,
  GROUP_PATH_SEGMENT,
  GROUP_RULE,
  isAppId,
  isGroupName,
} from "../../contracts/rules.js";
import { parseSpiffeId } from "../identity/spiffe.js";
import { bad, hasControl, isHostname, list, noDuplicates, parseHostPort, port, str, url } from "./fields.js";
import { publicPaths } from "./public-paths.js";
import { type AppRecord, type AppSpec, type FailMode, RegistryError, type SessionMode } from "./types.js";

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
  group?: string;
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
 * Collects the INVALID_ARGUMENT errors of independent parts of a spec, so one
 * call reports every bad field at once instead of the first only. Within a
 * part the first error stops that part (its later checks rely on the earlier).
 */
class Problems {
  readonly all: RegistryError[] = [];
  /** Runs one part; on an INVALID_ARGUMENT records it and returns `fallback`. */
  part<T>(fallback: T, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof RegistryError && e.kind === "INVALID_ARGUMENT") {
        this.all.push(e);
        return fallback;
      }
      throw e;
    }
  }
  /** Throws one INVALID_ARGUMENT naming every problem ("a: …; b: …"), field = the first. */
  throwIfAny(): void {
    if (this.all.length === 0) return;
    if (this.all.length === 1) throw this.all[0];
    throw new RegistryError(
      "INVALID_ARGUMENT",
      // Starts like a single error ("<field>: …"), which clients parse.
      this.all.map((e) => e.message).join("; "),
      this.all[0].field,
    );
  }
}

/**
 * Validates and normalises an app spec. `existing` is the stored record on
 * update (an empty client_secret then keeps the stored one). Every invalid
 * field is reported in one INVALID_ARGUMENT.
 */
export function validateApp(
  raw: RawAppSpec | undefined,
  existing?: AppRecord,
  bffPrefix = DEFAULT_BFF_PREFIX,
): { spec: AppSpec; clientSecret: string } {
  if (!raw) bad("app", "required");
  const p = new Problems();
  const id = raw.id ?? "";
  p.part(undefined, () => {
    if (!isAppId(id)) bad("id", APP_ID_RULE);
  });

  const hosts = p.part([] as string[], () => {
    const hs = list("hosts", raw.hosts, 1, 32).map((h, i) => {
      const f = `hosts[${i}]`;
      if (h === "*") return h;
      if (typeof h !== "string" || h.length === 0) bad(f, "required");
      const m = /^(.*?)(?::(\d{1,5}))?$/.exec(h);
      if (!m || !isHostname(m[1])) bad(f, `invalid host ${JSON.stringify(h.slice(0, 100))}`);
      if (m[2] !== undefined) port(f, m[2]);
      return h.toLowerCase();
    });
    noDuplicates("hosts", hs);
    return hs;
  });

  const pathPrefix = raw.pathPrefix || "/";
  const prefixOk = p.part(false, () => {
    if (!PREFIX_RE.test(pathPrefix))
      bad("path_prefix", "must start with '/' and contain only URL path characters");
    if (/(^|\/)\.\.?(\/|$)/.test(pathPrefix) || pathPrefix.includes("//"))
      bad("path_prefix", "must be normalised (no '.', '..' or '//')");
    if (pathPrefix.length > 1 && pathPrefix.endsWith("/"))
      bad("path_prefix", "must not end with '/' (except the root '/')");
    // Where every host's app groups have their routes (contracts/rules.ts groupBase).
    const groups = `${bffPrefix}/${GROUP_PATH_SEGMENT}`;
    if (pathPrefix === groups || pathPrefix.startsWith(`${groups}/`))
      bad("path_prefix", `must not be under ${groups} (kept for app groups)`);
    return true;
  });

  const o = raw.oidc;
  const oidc = p.part(undefined, () => {
    if (!o) bad("oidc", "required");
    return {
      issuer: url("oidc.issuer", o.issuer, true),
      clientId: str("oidc.client_id", o.clientId),
    };
  });
  const scopes = p.part([] as string[], () => {
    const sc = list("oidc.scopes", o?.scopes?.length ? o.scopes : ["openid"], 1, 32);
    for (const [i, s] of sc.entries()) if (!SCOPE_RE.test(s)) bad(`oidc.scopes[${i}]`, "invalid scope token");
    if (!sc.includes("openid")) bad("oidc.scopes", "must include 'openid'");
    return sc;
  });
  const clientSecret = p.part("", () => {
    const secret = o?.clientSecret ?? "";
    if (secret.length > 512) bad("oidc.client_secret", "longer than 512 characters");
    if (hasControl(secret)) bad("oidc.client_secret", "contains control characters");
    if (secret) return secret;
    if (!existing?.clientSecret)
      bad("oidc.client_secret", "required (write-only; leave empty on update to keep it)");
    return existing.clientSecret;
  });
  const client = p.part({} as Partial<AppSpec["oidc"]>, () => (o ? bffClient(o) : {}));

  const s = raw.session ?? {};
  const mode = s.mode || "bff";
  p.part(undefined, () => {
    if (mode !== "bff" && mode !== "tokenExchange")
      bad("session.mode", `must be "bff" or "tokenExchange", got ${JSON.stringify(mode.slice(0, 40))}`);
  });
  const cookieName = s.cookieName || defaultCookieName(id);
  // A default name derived from a bad id would only repeat the id's error.
  p.part(undefined, () => {
    if (!s.cookieName && !isAppId(id)) return;
    // The BFF refuses the same names (contracts/rules.ts): an app the API accepts is one the BFF serves.
    const cookieProblem = appCookieNameProblem(cookieName);
    if (cookieProblem) bad("session.cookie_name", cookieProblem);
  });
  const allowedOrigins = p.part([] as string[], () =>
    list("session.allowed_origins", s.allowedOrigins, 0, 32).map((v, i) => {
      const f = `session.allowed_origins[${i}]`;
      url(f, v, true);
      if (new URL(v).origin !== v) bad(f, "must be an origin (scheme://host[:port], no path)");
      return v;
    }),
  );

  const upstreams = p.part([] as AppSpec["upstreams"], () => {
    const us = list("upstreams", raw.upstreams, 1, 64).map((u, i) => parseHostPort(`upstreams[${i}]`, u));
    noDuplicates("upstreams", raw.upstreams ?? []);
    return us;
  });

  const j = raw.jwt;
  const jwt = p.part(undefined, () => {
    if (!j) bad("jwt", "required");
    const jwtIssuer = str("jwt.issuer", j.issuer, 512);
    const audiences = list("jwt.audiences", j.audiences, 1, 16);
    for (const [i, a] of audiences.entries()) str(`jwt.audiences[${i}]`, a);
    return { issuer: jwtIssuer, audiences };
  });
  // Optional: when left out, the API layer takes it from the issuer's discovery
  // document (registry/jwks-discovery.ts) before the spec is stored.
  const remoteJwksUri = p.part("", () => url("jwt.remote_jwks_uri", j?.remoteJwksUri, false));
  const claimHeaders = p.part([] as AppSpec["jwt"]["claimHeaders"], () => {
    const chs = list("jwt.claim_headers", j?.claimHeaders, 0, 32).map((c, i) => {
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
      chs.map((c) => c.header),
    );
    return chs;
  });
  const jwksCacheDurationS = j?.jwksCacheDurationS || 300;
  p.part(undefined, () => {
    if (jwksCacheDurationS > 86400) bad("jwt.jwks_cache_duration_s", "at most 86400");
  });

  const extAuthz = p.part(undefined as AppSpec["extAuthz"], () => {
    if (!raw.extAuthz) return undefined;
    const e = raw.extAuthz;
    const hp = parseHostPort("ext_authz.target", e.target ?? "");
    const timeoutMs = e.timeoutMs || 1000;
    if (timeoutMs > 60000) bad("ext_authz.timeout_ms", "at most 60000");
    const failMode = e.failMode || "closed";
    if (failMode !== "closed" && failMode !== "open")
      bad("ext_authz.fail_mode", `must be "closed" or "open"`);
    return { ...hp, timeoutMs, failMode: failMode as FailMode };
  });

  const sidecar = p.part(undefined as AppSpec["sidecar"], () => {
    if (!raw.sidecar) return undefined;
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
    return {
      service: sc.service,
      inboundPort: port("sidecar.inbound_port", sc.inboundPort ?? 0),
      ...(callers.length ? { allowedCallers: [...callers] } : {}),
    };
  });

  const group = p.part(undefined as string | undefined, () => {
    if (!raw.group) return undefined;
    if (!isGroupName(raw.group)) bad("group", GROUP_RULE);
    return raw.group;
  });

  // Public paths are checked against the prefix: only once the prefix is valid.
  const pub = prefixOk
    ? p.part([] as string[], () => publicPaths(raw.publicPaths, pathPrefix, bffPrefix))
    : [];

  p.throwIfAny();
  // No problem was recorded, so every part returned its real value.
  return {
    spec: {
      id,
      hosts,
      pathPrefix,
      oidc: { ...oidc!, scopes, ...client },
      session: { mode: mode as SessionMode, cookieName, allowedOrigins },
      upstreams,
      jwt: { ...jwt!, remoteJwksUri, claimHeaders, jwksCacheDurationS },
      ...(extAuthz ? { extAuthz } : {}),
      ...(sidecar ? { sidecar } : {}),
      ...(pub.length ? { publicPaths: pub } : {}),
      ...(group ? { group } : {}),
    },
    clientSecret,
  };
}

/** What GetApp shows instead of the secret. */
export function secretStatus(secret: string): string {
  if (!secret) return "";
  return `set (sha256:${createHash("sha256").update(secret).digest("hex").slice(0, 8)})`;
}
