// What sits behind Envoy in the benchmarks: real Redis, the harness OP and the
// real BFF in its own process (pinned to the load CPUs), with one session
// logged in through the OP's login form. Started once per run, shared by groups.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  LOG_DIR,
  type ManagedProcess,
  OpBrowser,
  type OpHandle,
  REPO_ROOT,
  type RedisHandle,
  startOP,
  startProcess,
  startRedis,
} from "../../harness/index.js";
import { childPidByArg, pin } from "./pin.js";
import type { BenchContext } from "./types.js";

export const APP_ID = "bench";
export const COOKIE = `__Host-sg-${APP_ID}`;

export interface Stack {
  redis: RedisHandle;
  op: OpHandle;
  bff: ManagedProcess;
  bffPublicUrl: string;
  bffInternalUrl: string;
  bffInternalPort: number;
  /** A logged-in session id (the cookie value). */
  session: string;
  /** The access token the BFF hands out for it (what the client sends in (a)). */
  accessToken: string;
  jwks: string;
  /** Which BFF ran: compiled build/dist or the TypeScript source via tsx. */
  bffEntry: string;
  /** The peers' OP clients and ports, registered at the OP when it starts (their redirect URIs hold the ports). */
  peers: PeerClients;
}

/** The OP clients of the peers: oauth2-proxy (e) and Envoy's oauth2 filter on the (f) listener. */
export interface PeerClients {
  o2pPort: number;
  portF: number;
  o2p: { clientId: string; clientSecret: string; redirectUri: string };
  envoyOauth2: { clientId: string; clientSecret: string; redirectUri: string };
}

export async function peerClients(): Promise<PeerClients> {
  const [o2pPort, portF] = [await freePort(), await freePort()];
  return {
    o2pPort,
    portF,
    o2p: {
      clientId: "client-oauth2-proxy",
      clientSecret: randomBytes(24).toString("base64url"),
      redirectUri: `http://127.0.0.1:${o2pPort}/oauth2/callback`,
    },
    envoyOauth2: {
      clientId: "client-envoy-oauth2",
      clientSecret: randomBytes(24).toString("base64url"),
      redirectUri: `http://127.0.0.1:${portF}/callback`,
    },
  };
}

function bffEntry(): { args: string[]; label: string } {
  const dist = join(REPO_ROOT, "build", "dist", "bff", "main.js");
  if (existsSync(dist)) return { args: [dist], label: "build/dist/bff/main.js" };
  return { args: ["--import", "tsx", join(REPO_ROOT, "bff", "main.ts")], label: "bff/main.ts (tsx)" };
}

async function login(publicUrl: string, op: OpHandle): Promise<string> {
  const start = await fetch(`${publicUrl}/auth/${APP_ID}/login`, { redirect: "manual" });
  await start.arrayBuffer();
  if (start.status !== 302) throw new Error(`BFF login answered ${start.status}`);
  const loginCookie = start.headers
    .getSetCookie()
    .map((l) => l.split(";")[0])
    .find((p) => p.startsWith(`${COOKIE}-login=`));
  if (!loginCookie) throw new Error("BFF login set no login-state cookie");
  const callbackUrl = await new OpBrowser(op.issuer).login(start.headers.get("location") ?? "", {
    username: "alice",
    password: "wonderland",
  });
  const cb = await fetch(callbackUrl, { redirect: "manual", headers: { cookie: loginCookie } });
  const body = await cb.text();
  const session = cb.headers
    .getSetCookie()
    .map((l) => l.split(";")[0])
    .find((p) => p.startsWith(`${COOKIE}=`))
    ?.slice(COOKIE.length + 1);
  if (!session)
    throw new Error(`BFF callback answered ${cb.status} without a session cookie: ${body.slice(0, 300)}`);
  return session;
}

export async function internalToken(internalUrl: string, session: string): Promise<Response> {
  return fetch(`${internalUrl}/internal/v1/session-token`, {
    headers: { "x-sessiongate-app": APP_ID, "x-sessiongate-session": session },
  });
}

async function startStack(ctx: BenchContext): Promise<Stack> {
  const redis = await startRedis();
  const [publicPort, internalPort] = [await freePort(), await freePort()];
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const peers = await peerClients();
  // A long access-token lifetime: no refresh falls inside a measurement.
  const op = await startOP({
    ttl: 3600,
    clients: [
      ...[peers.o2p, peers.envoyOauth2].map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: [c.redirectUri],
      })),
      {
        client_id: `client-${APP_ID}`,
        client_secret: "bench-secret-0123456789abcdef",
        redirect_uris: [`${publicUrl}/auth/${APP_ID}/callback`],
        post_logout_redirect_uris: [`${publicUrl}/auth/${APP_ID}/logout/callback`],
      },
    ],
  });
  const config = {
    log_level: "warn",
    allow_insecure_issuer: true,
    public: { listen: `127.0.0.1:${publicPort}` },
    internal: { listen: `127.0.0.1:${internalPort}` },
    redis: { url: redis.url },
    keys: { active: "k1", keys: { k1: randomBytes(32).toString("base64") } },
    session: { refresh_skew_s: 30, idle_timeout_s: 7200, absolute_timeout_s: 7200 },
    apps: [
      {
        id: APP_ID,
        mode: "bff",
        issuer: op.issuer,
        client_id: `client-${APP_ID}`,
        client_secret: "bench-secret-0123456789abcdef",
        redirect_uri: `${publicUrl}/auth/${APP_ID}/callback`,
        scopes: ["openid", "profile", "email"],
      },
    ],
  };
  mkdirSync(LOG_DIR, { recursive: true });
  const configFile = join(LOG_DIR, `bench-bff-${process.pid}.json`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const entry = bffEntry();
  const internalUrl = `http://127.0.0.1:${internalPort}`;
  const bff = await startProcess({
    name: "bench-bff",
    cmd: process.execPath,
    args: [...entry.args, "--config", configFile],
    cwd: REPO_ROOT,
    ready: { url: `${internalUrl}/readyz` },
    readyTimeoutMs: 30_000,
  });
  pin(bff.pid, ctx.cpus.load);
  pin(redisPid(redis), ctx.cpus.load);
  const session = await login(publicUrl, op);
  const t = await internalToken(internalUrl, session);
  const body = (await t.json()) as { access_token?: string };
  if (t.status !== 200 || !body.access_token)
    throw new Error(`BFF internal token endpoint answered ${t.status}`);
  ctx.log(
    `stack: redis ${redis.url}, OP ${op.issuer}, BFF ${entry.label} (pid ${bff.pid}), session logged in`,
  );
  return {
    redis,
    op,
    bff,
    bffPublicUrl: publicUrl,
    bffInternalUrl: internalUrl,
    bffInternalPort: internalPort,
    session,
    accessToken: body.access_token,
    jwks: JSON.stringify({ keys: [op.publicJwk] }),
    bffEntry: entry.label,
    peers,
  };
}

/** The pid of a harness Redis (found by its port, since the handle does not expose it). */
export function redisPid(redis: RedisHandle): number {
  return childPidByArg("redis-server", String(redis.port));
}

export async function getStack(ctx: BenchContext): Promise<Stack> {
  const existing = ctx.shared.get("stack") as Promise<Stack> | undefined;
  if (existing) return existing;
  const p = startStack(ctx);
  ctx.shared.set("stack", p);
  return p;
}
