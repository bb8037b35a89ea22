// Shared test helpers for the BFF: config builder, a BFF-side cookie jar and a
// login driver that goes BFF -> OP (harness OpBrowser) -> BFF callback.
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { ClientMetadata } from "oidc-provider";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import {
  freePort,
  type ManagedProcess,
  OpBrowser,
  type OpHandle,
  onCleanup,
  REPO_ROOT,
  startOP,
  startProcess,
  startRedis,
} from "../harness/index.js";

export const KEY1 = randomBytes(32).toString("base64");
export const KEY2 = randomBytes(32).toString("base64");

export interface TestApp {
  id: string;
  mode: "bff" | "tokenExchange";
  secret: string;
}

/** OP client metadata for an app served by a BFF on `publicUrl`. */
export function opClient(publicUrl: string, app: TestApp): ClientMetadata {
  return {
    client_id: `client-${app.id}`,
    client_secret: app.secret,
    redirect_uris: [`${publicUrl}/auth/${app.id}/callback`],
    post_logout_redirect_uris: [`${publicUrl}/auth/${app.id}/logout/callback`],
    backchannel_logout_uri: `${publicUrl}/auth/${app.id}/backchannel-logout`,
    backchannel_logout_session_required: true,
  };
}

export function bffConfig(o: {
  publicPort: number;
  internalPort?: number;
  /** The admin listener (/metrics): default an ephemeral port. */
  adminPort?: number;
  redisUrl: string;
  issuer: string;
  apps: TestApp[];
  skew?: number;
  keys?: Record<string, string>;
  active?: string;
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  const publicUrl = `http://127.0.0.1:${o.publicPort}`;
  return {
    log_level: "warn",
    allow_insecure_issuer: true,
    public: { listen: `127.0.0.1:${o.publicPort}` },
    internal: { listen: `127.0.0.1:${o.internalPort ?? 0}` },
    admin: { listen: `127.0.0.1:${o.adminPort ?? 0}` },
    redis: { url: o.redisUrl },
    keys: { active: o.active ?? "k1", keys: o.keys ?? { k1: KEY1 } },
    session: { refresh_skew_s: o.skew ?? 5, idle_timeout_s: 600, absolute_timeout_s: 3600 },
    timeouts: { op_ms: 3000, refresh_wait_ms: 10000 },
    apps: o.apps.map((a) => ({
      id: a.id,
      mode: a.mode,
      issuer: o.issuer,
      client_id: `client-${a.id}`,
      client_secret: a.secret,
      redirect_uri: `${publicUrl}/auth/${a.id}/callback`,
      scopes: ["openid", "profile", "email"],
    })),
    ...o.extra,
  };
}

export function writeConfig(name: string, cfg: unknown): string {
  const dir = join(import.meta.dirname, "..", ".logs");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${process.pid}-${Date.now().toString(36)}.json`);
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  onCleanup(() => rmSync(file, { force: true }));
  return file;
}

/** A BFF in its own process (tsx bff/main.ts), ready once its internal listener answers /healthz. */
export async function startBffProcess(
  name: string,
  cfg: unknown,
  internalUrl: string,
): Promise<ManagedProcess> {
  const file = writeConfig(name, cfg);
  return startProcess({
    name,
    cmd: join(REPO_ROOT, "node_modules", ".bin", "tsx"),
    args: [join(REPO_ROOT, "bff", "main.ts"), "--config", file],
    cwd: REPO_ROOT,
    ready: { url: `${internalUrl}/healthz` },
  });
}

/** The sum of every series of a metric (all label sets) on a BFF's admin listener. */
export async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").pop());
  return sum;
}

export async function ports(n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Set-Cookie lines of a response as name -> { value, attrs } (last wins). */
export function setCookies(res: Response): Map<string, { value: string; line: string }> {
  const m = new Map<string, { value: string; line: string }>();
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    m.set(pair.slice(0, eq).trim(), { value: pair.slice(eq + 1).trim(), line });
  }
  return m;
}

export interface LoginResult {
  /** The session cookie value (the session id). */
  session: string;
  cookieLine: string;
  callbackRes: Response;
  callbackBody: string;
  loginRes: Response;
  op: OpBrowser;
  callbackUrl: string;
  loginCookie: string;
}

export async function startLogin(publicUrl: string, appId: string, returnTo?: string) {
  const q = returnTo === undefined ? "" : `?return_to=${encodeURIComponent(returnTo)}`;
  const res = await fetch(`${publicUrl}/auth/${appId}/login${q}`, { redirect: "manual" });
  const loginCookie = setCookies(res).get(`__Host-sg-${appId}-login`)?.value ?? "";
  return { res, location: res.headers.get("location") ?? "", loginCookie };
}

export async function login(
  publicUrl: string,
  op: OpHandle,
  appId: string,
  opts: { user?: string; password?: string; returnTo?: string; browser?: OpBrowser } = {},
): Promise<LoginResult> {
  const start = await startLogin(publicUrl, appId, opts.returnTo);
  if (start.res.status !== 302)
    throw new Error(`login answered ${start.res.status}: ${await start.res.text()}`);
  const browser = opts.browser ?? new OpBrowser(op.issuer);
  const callbackUrl = await browser.login(start.location, {
    username: opts.user ?? "alice",
    password: opts.password ?? "wonderland",
  });
  const cb = await fetch(callbackUrl, {
    redirect: "manual",
    headers: { cookie: `__Host-sg-${appId}-login=${start.loginCookie}` },
  });
  const body = await cb.text();
  const c = setCookies(cb).get(`__Host-sg-${appId}`);
  if (cb.status !== 200 || !c) throw new Error(`callback answered ${cb.status}: ${body}`);
  return {
    session: c.value,
    cookieLine: c.line,
    callbackRes: cb,
    callbackBody: body,
    loginRes: start.res,
    op: browser,
    callbackUrl,
    loginCookie: start.loginCookie,
  };
}

export function internalToken(
  internalUrl: string,
  appId: string,
  session: string,
  extra: Record<string, string> = {},
) {
  return fetch(`${internalUrl}/internal/v1/session-token`, {
    headers: { "x-sessiongate-app": appId, "x-sessiongate-session": session, ...extra },
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// biome-ignore lint/suspicious/noExplicitAny: test-side JSON bodies are checked by assertions
export type Json = any;
/** `res.json()` typed loosely for assertions (Node's types say `unknown`). */
export const json = (res: Response): Promise<Json> => res.json();

export const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
export const SPA: TestApp = { id: "spa", mode: "tokenExchange", secret: "spa-secret-0123456789abcdef" };

export interface TwoAppBff {
  op: OpHandle;
  bff: RunningBff;
  publicUrl: string;
  redisUrl: string;
  publicPort: number;
  rc: Redis;
}

/** Redis, the OP and an in-process BFF serving WEB (bff mode) and SPA (tokenExchange). */
export async function startTwoAppBff(): Promise<TwoAppBff> {
  const [publicPort] = await ports(1);
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  const rc = new Redis(redis.url);
  onCleanup(() => rc.disconnect());
  const op = await startOP({ clients: [opClient(publicUrl, WEB), opClient(publicUrl, SPA)], ttl: 120 });
  const bff = await startBff(
    validateConfig(bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB, SPA] })),
    { defaultMetrics: false },
  );
  onCleanup(() => bff.close());
  return { op, bff, publicUrl, redisUrl: redis.url, publicPort, rc };
}

/** Session records in Redis (not their refresh locks and backoffs). */
export const sessionKeys = async (rc: Redis) =>
  (await rc.keys("sg:s:*")).filter((k) => !/:(lock|retry)$/.test(k));
