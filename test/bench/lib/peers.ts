// The peers a user would pick instead of sessiongate (issue 21), behind the
// side-by-side Envoy: (e) oauth2-proxy as HTTP ext_authz with its Redis
// session store, (f) Envoy's own oauth2 filter. Each is logged in for real
// through the harness OP, and each must refuse a missing or tampered cookie
// before anything is measured (checkPeersRefuse).
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CookieJar,
  LOG_DIR,
  type ManagedProcess,
  OpBrowser,
  type OpHandle,
  REPO_ROOT,
  startProcess,
} from "../../harness/index.js";
import type { PeerVars } from "./envoy.js";
import type { Stack } from "./stack.js";

export const OAUTH2_PROXY_VERSION = "v7.15.6";
const HOW_TO_GET =
  "build it with `bash scripts/go-tools.sh oauth2-proxy` (go install from the Go module proxy into .tools/bin; `bash .ci/run` does it) or set OAUTH2_PROXY_BIN";

/** The oauth2-proxy binary ($OAUTH2_PROXY_BIN, else .tools/bin/oauth2-proxy), or an error saying how to get it. */
export function oauth2ProxyBin(): string {
  const bin = process.env.OAUTH2_PROXY_BIN ?? join(REPO_ROOT, ".tools", "bin", "oauth2-proxy");
  if (!existsSync(bin))
    throw new Error(`oauth2-proxy ${OAUTH2_PROXY_VERSION} not found at ${bin}: ${HOW_TO_GET}`);
  return bin;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
}

/** What the side-by-side Envoy's (e) and (f) listeners need (the OP's endpoints from its discovery document). */
export async function peerVars(st: Stack): Promise<PeerVars> {
  const r = await fetch(`${st.op.issuer}/.well-known/openid-configuration`);
  const d = (await r.json()) as Discovery;
  return {
    portF: st.peers.portF,
    o2pPort: st.peers.o2pPort,
    opPort: st.op.port,
    tokenUri: d.token_endpoint,
    authorizeUri: d.authorization_endpoint,
    clientId: st.peers.envoyOauth2.clientId,
    clientSecret: st.peers.envoyOauth2.clientSecret,
    hmacSecret: randomBytes(32).toString("base64"),
  };
}

/**
 * oauth2-proxy as an ext_authz server: its proxy path with a static 200
 * upstream (/oauth2/auth answers 202, a denial to Envoy's HTTP ext_authz),
 * sessions in the stack's Redis, and the session's access token in the answer
 * as `authorization: Bearer` (alpha config; --set-authorization-header would
 * put the ID token there).
 */
export async function startOauth2Proxy(st: Stack): Promise<ManagedProcess> {
  const bin = oauth2ProxyBin();
  const c = st.peers.o2p;
  const alpha = {
    server: { bindAddress: `127.0.0.1:${st.peers.o2pPort}` },
    upstreamConfig: { upstreams: [{ id: "static", path: "/", static: true, staticCode: 200 }] },
    injectResponseHeaders: [
      { name: "Authorization", values: [{ claimSource: { claim: "access_token", prefix: "Bearer " } }] },
    ],
    providers: [
      {
        id: "op",
        provider: "oidc",
        clientID: c.clientId,
        clientSecret: c.clientSecret,
        scope: "openid email profile",
        code_challenge_method: "S256",
        // Claims from the ID token only: the OP's access token is a JWT for the API
        // (resource indicator), which its userinfo endpoint refuses.
        skipClaimsFromProfileURL: true,
        oidcConfig: {
          issuerURL: st.op.issuer,
          emailClaim: "email",
          audienceClaims: ["aud"],
          insecureAllowUnverifiedEmail: true,
        },
      },
    ],
  };
  mkdirSync(LOG_DIR, { recursive: true });
  const file = join(LOG_DIR, `bench-oauth2-proxy-${process.pid}.yaml`);
  // JSON is YAML: no YAML writer needed.
  writeFileSync(file, JSON.stringify(alpha, null, 2));
  return startProcess({
    name: "bench-oauth2-proxy",
    cmd: bin,
    args: [
      `--alpha-config=${file}`,
      `--redirect-url=${c.redirectUri}`,
      `--cookie-secret=${randomBytes(16).toString("hex")}`,
      "--cookie-secure=false",
      "--email-domain=*",
      "--session-store-type=redis",
      `--redis-connection-url=${st.redis.url}`,
      "--request-logging=false",
      "--auth-logging=false",
    ],
    cwd: REPO_ROOT,
    ready: { url: `http://127.0.0.1:${st.peers.o2pPort}/ping` },
    readyTimeoutMs: 30_000,
  });
}

function cookiesOf(res: Response): string[] {
  return res.headers.getSetCookie().map((l) => l.split(";")[0]);
}

/** Logs in at oauth2-proxy through the OP's login form; returns the Cookie header of the session. */
export async function loginOauth2Proxy(st: Stack, op: OpHandle): Promise<string> {
  const base = `http://127.0.0.1:${st.peers.o2pPort}`;
  const start = await fetch(`${base}/oauth2/start?rd=%2F`, { redirect: "manual" });
  await start.arrayBuffer();
  if (start.status !== 302) throw new Error(`oauth2-proxy /oauth2/start answered ${start.status}`);
  const csrf = cookiesOf(start).join("; ");
  const callback = await new OpBrowser(op.issuer).login(start.headers.get("location") ?? "", {
    username: "alice",
    password: "wonderland",
  });
  const cb = await fetch(callback, { redirect: "manual", headers: { cookie: csrf } });
  const body = await cb.text();
  const session = cookiesOf(cb).filter((p) => p.startsWith("_oauth2_proxy=") && p.length > 14);
  if (cb.status !== 302 || session.length === 0)
    throw new Error(
      `oauth2-proxy callback answered ${cb.status} without a session cookie: ${body.slice(0, 300)}`,
    );
  return session.join("; ");
}

/** Logs in through Envoy's oauth2 filter on the (f) listener; returns the Cookie header it set. */
export async function loginEnvoyOauth2(portF: number, op: OpHandle): Promise<string> {
  const base = `http://127.0.0.1:${portF}`;
  const jar = new CookieJar();
  const first = await fetch(`${base}/`, { redirect: "manual" });
  await first.arrayBuffer();
  jar.store(base, first);
  const authorize = first.headers.get("location") ?? "";
  if (first.status !== 302 || !authorize.startsWith(op.issuer))
    throw new Error(
      `Envoy's oauth2 filter answered ${first.status} (location ${authorize}) without a cookie`,
    );
  const callback = await new OpBrowser(op.issuer).login(authorize, {
    username: "alice",
    password: "wonderland",
  });
  const cb = await fetch(callback, { redirect: "manual", headers: { cookie: jar.header(base) } });
  const body = await cb.text();
  jar.store(base, cb);
  if (cb.status !== 302 || !jar.get(base, "BearerToken"))
    throw new Error(
      `Envoy's oauth2 callback answered ${cb.status} without a BearerToken cookie: ${body.slice(0, 300)}`,
    );
  // What a browser sends afterwards: the session cookies, not the login's nonce and
  // code verifier (expired by the callback), which would only lengthen every request.
  return ENVOY_OAUTH2_COOKIES.filter((n) => jar.get(base, n))
    .map((n) => `${n}=${jar.get(base, n)}`)
    .join("; ");
}

const ENVOY_OAUTH2_COOKIES = ["OauthHMAC", "OauthExpires", "BearerToken", "IdToken", "RefreshToken"];

/** The same Cookie header with one character of the named cookie's value changed. */
export function tamperCookie(header: string, name: string): string {
  return header
    .split("; ")
    .map((p) => {
      if (!p.startsWith(`${name}=`)) return p;
      const v = p.slice(name.length + 1);
      const i = Math.floor(v.length / 2);
      const swapped = v[i] === "A" ? "B" : "A";
      return `${name}=${v.slice(0, i)}${swapped}${v.slice(i + 1)}`;
    })
    .join("; ");
}

export interface PeerCheck {
  variant: string;
  valid: number;
  missing: number;
  tampered: number;
}

/**
 * Each peer must let a valid session through (200) and refuse a missing or a
 * tampered cookie (anything but 200: a redirect to the login, 401, 403). A
 * peer that lets a forged cookie through would be measured doing less than
 * the work it claims.
 */
export async function checkPeersRefuse(
  ports: { e: number; f: number },
  cookies: { e: string; f: string },
): Promise<PeerCheck[]> {
  const status = async (port: number, cookie?: string) => {
    const r = await fetch(`http://127.0.0.1:${port}/`, {
      redirect: "manual",
      headers: cookie ? { cookie } : {},
    });
    await r.arrayBuffer();
    return r.status;
  };
  const out: PeerCheck[] = [
    {
      variant: "(e) oauth2-proxy",
      valid: await status(ports.e, cookies.e),
      missing: await status(ports.e),
      tampered: await status(ports.e, tamperCookie(cookies.e, "_oauth2_proxy")),
    },
    {
      variant: "(f) Envoy oauth2 filter",
      valid: await status(ports.f, cookies.f),
      missing: await status(ports.f),
      // The RefreshToken cookie tampered too: with a good one, Envoy 1.40 answers any bad
      // cookie with a refresh grant at the OP (use_refresh_token), which then succeeds.
      tampered: await status(ports.f, tamperCookie(tamperCookie(cookies.f, "RefreshToken"), "BearerToken")),
    },
  ];
  for (const c of out) {
    if (c.valid !== 200) throw new Error(`${c.variant} answered ${c.valid} to a logged-in request`);
    if (c.missing === 200) throw new Error(`${c.variant} let a request without its cookie through`);
    if (c.tampered === 200) throw new Error(`${c.variant} let a tampered cookie through`);
  }
  return out;
}
