// The stack every chaos scenario runs against, all real processes on loopback:
// Redis (AOF persistence), the harness OP (short access-token TTL, so refreshes
// happen), two BFF processes behind a TCP balancer, two xds-server processes on
// the Redis registry, a JWT-verifying upstream, and one Envoy (hot restart on)
// configured only over ADS from both replicas. Sessions are logged in through
// Envoy and the OP's login form.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson, toJson } from "@bufbuild/protobuf";
import type { JSONWebKeySet } from "jose";
import {
  type App,
  AppSpecSchema,
  type ListAppsResponse,
} from "../../../protos/gen/sessiongate/v1/apps_pb.js";
import { type Client, connect } from "../../../xds-server/cli/client.js";
import {
  budget,
  type HostReply,
  hostRequest,
  OpBrowser,
  type OpHandle,
  onCleanup,
  type RedisHandle,
  startOP,
  startRedis,
  waitFor,
} from "../../harness/index.js";
import { type RedisCluster, startRedisCluster } from "../../harness/redis-cluster.js";
import { type SentinelSet, startSentinelSet } from "../../harness/sentinel.js";
import { type Balancer, startBalancer } from "./balancer.js";
import { type ChaosEnvoy, startChaosEnvoy } from "./envoy.js";
import { type BffReplica, nodeEntry, startBffReplica, startXdsReplica, type XdsReplica } from "./procs.js";
import { startUpstream, type Upstream } from "./upstream.js";

export const APP_ID = "chaos";
export const HOST = "chaos.test";
export const COOKIE = `__Host-sg-${APP_ID}`;
export const FILLER_APPS = 3;
/** The chaos app's jwt.jwks_cache_duration_s: jwt_authn re-fetches the OP's JWKS that often. */
export const JWKS_CACHE_S = 3;
const USERS = [
  { username: "alice", password: "wonderland" },
  { username: "bob", password: "builder" },
];

export interface StackOptions {
  sessions: number;
  /** OP access-token lifetime (s) and BFF refresh skew (s): a refresh is due ttl - skew after issue. */
  tokenTtlS: number;
  refreshSkewS: number;
  /** Filter cache bound (s): how long Envoy serves a token without asking the BFF. */
  cacheMaxTtlS: number;
  /** Redis as a master, a replica and a sentinel; the BFFs and xds-servers use the Sentinel URL. */
  sentinel?: boolean;
  /** Redis as a Cluster of 3 masters + 3 replicas; the BFFs and xds-servers use the redis-cluster:// URL. */
  cluster?: boolean;
  log(line: string): void;
}

export interface Session {
  index: number;
  user: string;
  cookie: string;
}

export interface Stack {
  opts: StackOptions;
  redis: RedisHandle;
  /** With `sentinel`: the replica and the sentinel (`redis` is the first master). */
  sentinel?: SentinelSet;
  /** With `cluster`: the six nodes (`redis` stands for the first one). */
  cluster?: RedisCluster;
  op: OpHandle;
  upstream: Upstream;
  bffs: BffReplica[];
  /** public/internal: in front of the BFF replicas; redis: between the BFFs and Redis (a delay can be set on each). */
  balancers: { public: Balancer; internal: Balancer; redis: Balancer };
  xds: XdsReplica[];
  clients: Client[];
  envoy: ChaosEnvoy;
  sessions: Session[];
  entries: { bff: string; xds: string };
  /** One request through the gateway with the app's Host. */
  gw(path: string, headers?: Record<string, string>, timeoutMs?: number): Promise<HostReply>;
  /** The registry as (id, revision, spec) rows, from the first replica that answers. */
  registry(): Promise<string[]>;
  /** Registers an app (upstream: the verifying upstream) through replica `via`. */
  createApp(id: string, host: string, via: number): Promise<void>;
  deleteApp(id: string, via: number): Promise<void>;
}

function appSpec(id: string, host: string, op: OpHandle, upstreamPort: number, secret: string) {
  return fromJson(AppSpecSchema, {
    id,
    hosts: [host],
    path_prefix: "/",
    oidc: {
      issuer: op.issuer,
      client_id: `client-${id}`,
      client_secret: secret,
      scopes: ["openid", "profile", "email"],
    },
    session: { mode: "bff" },
    upstreams: [`127.0.0.1:${upstreamPort}`],
    // A short JWKS cache, so jwt_authn re-fetches within seconds (the jwks-rotation scenario).
    jwt: {
      issuer: op.issuer,
      audiences: [op.audience],
      remote_jwks_uri: op.jwksUri,
      jwks_cache_duration_s: JWKS_CACHE_S,
    },
  });
}

async function login(gw: Stack["gw"], op: OpHandle, user: (typeof USERS)[number]): Promise<string> {
  const start = await gw(`/auth/${APP_ID}/login?return_to=%2F`);
  if (start.status !== 302) throw new Error(`login through Envoy answered ${start.status}: ${start.body}`);
  const cookies = (r: HostReply) => (r.headers["set-cookie"] ?? []).map((l) => l.split(";")[0]);
  const loginCookie = cookies(start).find((c) => c.startsWith(`${COOKIE}-login=`));
  if (!loginCookie) throw new Error("login set no login-state cookie");
  const callback = new URL(await new OpBrowser(op.issuer).login(start.headers.location ?? "", user));
  const cb = await gw(`${callback.pathname}${callback.search}`, { cookie: loginCookie });
  const session = cookies(cb)
    .find((c) => c.startsWith(`${COOKIE}=`))
    ?.slice(COOKIE.length + 1);
  if (cb.status !== 200 || !session)
    throw new Error(`callback answered ${cb.status}: ${cb.body.slice(0, 300)}`);
  return session;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), "sg-chaos-redis-"));
  onCleanup(() => rmSync(dataDir, { recursive: true, force: true }));
  const sentinel = opts.sentinel ? await startSentinelSet() : undefined;
  const cluster = opts.cluster ? await startRedisCluster() : undefined;
  const redis =
    sentinel?.master ??
    (cluster ? clusterHandle(cluster) : await startRedis({ persistence: { dir: dataDir, fsync: "always" } }));
  const secret = randomBytes(18).toString("base64url");
  const publicOrigin = `http://${HOST}`;
  const op = await startOP({
    ttl: opts.tokenTtlS,
    // One key signs; two more for the jwks-rotation scenario's rotations (paced and at capacity).
    signingKeys: 3,
    clients: [
      {
        client_id: `client-${APP_ID}`,
        client_secret: secret,
        redirect_uris: [`${publicOrigin}/auth/${APP_ID}/callback`],
        post_logout_redirect_uris: [`${publicOrigin}/auth/${APP_ID}/logout/callback`],
      },
    ],
  });
  // Every key the OP has (published or not yet): the upstream keeps verifying during an OP
  // outage and across key rotations; a token of any other key is a violation.
  const upstream = await startUpstream({
    jwks: { keys: op.allPublicJwks } as JSONWebKeySet,
    issuer: op.issuer,
    audience: op.audience,
    cookiePrefix: COOKIE,
  });
  const internalKey = randomBytes(24).toString("base64url");
  // The BFFs reach Redis through a proxy that can be made slow (the xds-server registry goes direct).
  const redisProxy = await startBalancer([redis.port]);
  const bffRedisUrl = redis.url.replace(`:${redis.port}`, `:${redisProxy.port}`);
  const bffConfig = {
    log_level: process.env.SESSIONGATE_CHAOS_BFF_LOG_LEVEL ?? "warn",
    allow_insecure_issuer: true,
    internal: { key: internalKey },
    // A Cluster is reached directly: its clients follow MOVED redirects to the nodes' own ports.
    redis: { url: sentinel?.url ?? cluster?.url ?? bffRedisUrl },
    keys: { active: "k1", keys: { k1: randomBytes(32).toString("base64") } },
    session: { refresh_skew_s: opts.refreshSkewS, idle_timeout_s: 3600, absolute_timeout_s: 7200 },
    // The refresh backoff scaled down like the token lifetime (16 s here, minutes in production).
    timeouts: { op_ms: 2000, refresh_wait_ms: 6000, refresh_backoff_ms: 500, refresh_backoff_max_ms: 4000 },
    apps: [
      {
        id: APP_ID,
        mode: "bff",
        issuer: op.issuer,
        client_id: `client-${APP_ID}`,
        client_secret: secret,
        redirect_uri: `${publicOrigin}/auth/${APP_ID}/callback`,
        scopes: ["openid", "profile", "email"],
      },
    ],
  };
  const bffs = await Promise.all(["chaos-bff-a", "chaos-bff-b"].map((n) => startBffReplica(n, bffConfig)));
  const balancers = {
    public: await startBalancer(bffs.map((b) => b.publicPort)),
    internal: await startBalancer(bffs.map((b) => b.internalPort)),
    redis: redisProxy,
  };
  const apiToken = randomBytes(24).toString("base64url");
  const xdsOpts = {
    redisUrl: sentinel?.url ?? cluster?.url ?? redis.url,
    apiToken,
    bffPublicPort: balancers.public.port,
    bffInternalPort: balancers.internal.port,
    internalKey,
    secretKeys: `k1:${randomBytes(32).toString("base64")}`,
    cacheMaxTtlS: opts.cacheMaxTtlS,
    cacheSkewS: Math.min(5, Math.max(0, opts.tokenTtlS - opts.refreshSkewS)),
  };
  const xds = await Promise.all(["chaos-xds-a", "chaos-xds-b"].map((n) => startXdsReplica(n, xdsOpts)));
  const clients = xds.map((x) => connect(`127.0.0.1:${x.apiPort}`, apiToken));
  onCleanup(() => {
    for (const c of clients) c.close();
  });
  const create = (id: string, host: string, via: number) =>
    clients[via].unary("createApp", { app: appSpec(id, host, op, upstream.port, secret) }, 10_000);
  await create(APP_ID, HOST, 0);
  for (let i = 1; i <= FILLER_APPS; i++) await create(`filler-${i}`, `filler-${i}.test`, i % 2);
  const envoy = await startChaosEnvoy({
    xdsPorts: [xds[0].xdsPort, xds[1].xdsPort],
    nodeId: "chaos-gateway",
  });
  const gw: Stack["gw"] = (path, headers = {}, timeoutMs = 5000) =>
    hostRequest(envoy.port, path, { host: HOST, ...headers }, { timeoutMs });
  await waitFor(
    "the gateway serving the chaos app",
    async () => {
      const s = await gw(`/auth/${APP_ID}/session`).catch(() => null);
      return s?.status === 401 && s.body.includes("no_session");
    },
    30_000,
    100,
  );
  const sessions: Session[] = [];
  for (let i = 0; i < opts.sessions; i++) {
    const user = USERS[i % USERS.length];
    sessions.push({ index: i, user: user.username, cookie: await login(gw, op, user) });
  }
  opts.log(
    `stack: redis ${redis.url} (AOF), OP ${op.issuer} (AT ttl ${opts.tokenTtlS} s), 2 BFF, 2 xds-server, ` +
      `Envoy :${envoy.port} (hot restart on), ${sessions.length} sessions logged in`,
  );
  const registry = async (): Promise<string[]> => {
    let lastErr: unknown;
    for (const c of clients) {
      try {
        const res = await c.unary<unknown, ListAppsResponse>("listApps", {}, 5000);
        return res.apps
          .map((a: App) => JSON.stringify([a.spec?.id, String(a.revision), toJson(AppSpecSchema, a.spec!)]))
          .sort();
      } catch (err) {
        lastErr = err;
      }
    }
    throw new Error(`no replica answered ListApps: ${(lastErr as Error).message}`);
  };
  return {
    opts,
    redis,
    sentinel,
    cluster,
    op,
    upstream,
    bffs,
    balancers,
    xds,
    clients,
    envoy,
    sessions,
    entries: { bff: nodeEntry("bff").label, xds: nodeEntry("xds-server").label },
    gw,
    registry,
    createApp: async (id, host, via) => {
      await create(id, host, via);
    },
    deleteApp: async (id, via) => {
      await clients[via].unary("deleteApp", { id }, 10_000);
    },
  };
}

/** The Cluster's first node as the stack's `redis` (the Redis scenarios kill and restart it). */
function clusterHandle(c: RedisCluster): RedisHandle {
  const first = c.nodes[0];
  return {
    url: c.url,
    port: first.port,
    stop: () => first.kill(),
    kill: () => first.kill(),
    restart: async () => {
      throw new Error("a Cluster node is not restarted: the cluster fails over instead");
    },
  };
}

/** The sum of one BFF counter over the replicas (a restarted replica starts from 0). */
export async function bffCounter(stack: Stack, series: string): Promise<number> {
  let n = 0;
  for (const b of stack.bffs) {
    const text = await fetch(`http://127.0.0.1:${b.internalPort}/metrics`, {
      signal: AbortSignal.timeout(2000),
    })
      .then((r) => r.text())
      .catch(() => "");
    for (const line of text.split("\n"))
      if (line.startsWith(`${series} `)) n += Number(line.slice(series.length + 1));
  }
  return n;
}

/**
 * The sum over the replicas of every BFF series named `name` whose labels
 * contain each of `labels`; NaN when a replica's /metrics did not answer
 * (a busy BFF at capacity: tried 3 times), so a count is never silently short.
 */
export async function bffSum(stack: Stack, name: string, labels: string[]): Promise<number> {
  let n = 0;
  for (const b of stack.bffs) {
    let text: string | undefined;
    for (let i = 0; i < 3 && text === undefined; i++)
      text = await fetch(`http://127.0.0.1:${b.internalPort}/metrics`, {
        signal: AbortSignal.timeout(budget(5000)),
      })
        .then((r) => (r.ok ? r.text() : undefined))
        .catch(() => undefined);
    if (text === undefined) return Number.NaN;
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name}{`)) continue;
      const lbl = line.slice(name.length, line.lastIndexOf("}") + 1);
      if (labels.every((l) => lbl.includes(l))) n += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return n;
}

/** Calls the filter made to the BFF's internal listener, and refresh attempts (any result), so far. */
export async function callCounts(stack: Stack): Promise<{ bffCalls: number; refreshes: number }> {
  return {
    bffCalls: await bffSum(stack, "sessiongate_bff_http_request_duration_seconds_count", [
      'listener="internal"',
      'route="session-token"',
    ]),
    refreshes: await bffSum(stack, "sessiongate_bff_refreshes_total", [`app="${APP_ID}"`]),
  };
}

/** A session works: its cookie reaches the upstream as a verified JWT of its own user. */
export async function sessionWorks(stack: Stack, s: Session): Promise<boolean> {
  const r = await stack.gw("/api/whoami", { cookie: `${COOKIE}=${s.cookie}` }).catch(() => null);
  if (r?.status !== 200) return false;
  try {
    return (JSON.parse(r.body) as { sub?: string }).sub === s.user;
  } catch {
    return false;
  }
}
