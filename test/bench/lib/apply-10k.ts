// The bulk-registration figure: `sessiongate apps apply -f DIR` of N apps (one
// JSON file each) into a running xds-server on a real Redis registry, timed
// until the CLI has them written and until one Delta ADS client (a simulated
// Envoy that ACKs like Envoy) holds every app's cluster and virtual host. The
// apps leave jwt.remote_jwks_uri out, so the apply also discovers it; the
// discovery document's fetches are counted (one per issuer, not per app).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { AdsServiceDefinition } from "../../../xds-server/ads/service.js";
import { freePort, onCleanup, REPO_ROOT, startProcess, startRedis, WASM_PATH } from "../../harness/index.js";

const TOKEN = "apply-bench-token-0123456789abcdef";
const SECRET_KEYS = `b1:${Buffer.alloc(32, 9).toString("base64")}`;
const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const VHOST = "type.googleapis.com/envoy.config.route.v3.VirtualHost";
/** What a gateway Envoy subscribes to over Delta ADS. */
const TYPES = [
  CLUSTER,
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  "type.googleapis.com/envoy.config.listener.v3.Listener",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
  VHOST,
];

export interface ApplyFigures {
  apps: number;
  /** Start of `sessiongate apps apply` until it exited (read, sent, planned, written). */
  writtenS: number;
  /** Start of the apply until the ADS client held every app's cluster and virtual host. */
  servedS: number;
  /** The CLI's own report: reading the directory. */
  readS: number;
  /** Fetches of the issuer's discovery document during the apply. */
  discoveryFetches: number;
  /** Registry revisions the apply took (one per written chunk). */
  revisions: number;
  xdsServerRssMiB: number;
  loadAvg: number[];
}

const appHost = (id: string) => `${id}.apply.bench.test`;

/** Writes `n` AppSpec JSON files (one per app) to a new directory. */
export function writeAppFiles(n: number, issuer: string, upstreamPort: number): string {
  const dir = mkdtempSync(join(tmpdir(), "sg-apply-bench-"));
  for (let i = 0; i < n; i++) {
    const id = `b${String(i).padStart(5, "0")}`;
    const spec = {
      id,
      hosts: [appHost(id)],
      path_prefix: "/",
      oidc: { issuer, client_id: `${id}-client`, client_secret: `secret-of-${id}`, scopes: ["openid"] },
      session: { mode: "bff" },
      upstreams: [`127.0.0.1:${upstreamPort}`],
      jwt: { issuer, audiences: ["api"] },
    };
    writeFileSync(join(dir, `${id}.json`), JSON.stringify(spec));
  }
  return dir;
}

/** A loopback issuer: its discovery document (fetches counted) and JWKS. */
async function startIssuer(): Promise<{ issuer: string; port: number; fetches: () => number }> {
  let fetches = 0;
  let issuer = "";
  const server = createServer((req, res) => {
    if (req.url === "/.well-known/openid-configuration") {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json` }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"keys":[]}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  issuer = `http://127.0.0.1:${port}`;
  return { issuer, port, fetches: () => fetches };
}

interface DeltaResponse {
  typeUrl: string;
  nonce: string;
  resources: { name: string }[];
  removedResources: string[];
}

/** A Delta ADS client subscribed to everything; `held(type)` is the set of resource names it holds. */
function deltaClient(target: string, listenerPort: number) {
  const Client = grpc.makeGenericClientConstructor(AdsServiceDefinition, "AggregatedDiscoveryService");
  // Like Envoy's own gRPC client, no receive limit: one response may carry every new app's resources.
  const client = new Client(target, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  let failed: Error | undefined;
  const held = new Map<string, Set<string>>(TYPES.map((t) => [t, new Set<string>()]));
  let onUpdate = () => {};
  // biome-ignore lint/suspicious/noExplicitAny: generic client method.
  const call: grpc.ClientDuplexStream<unknown, DeltaResponse> = (client as any).deltaAggregatedResources();
  call.on("data", (r: DeltaResponse) => {
    const set = held.get(r.typeUrl) ?? new Set<string>();
    held.set(r.typeUrl, set);
    for (const x of r.resources) set.add(x.name);
    for (const n of r.removedResources) set.delete(n);
    call.write({ typeUrl: r.typeUrl, responseNonce: r.nonce });
    onUpdate();
  });
  call.on("error", (e: Error) => {
    failed ??= e;
    onUpdate();
  });
  const node = {
    id: "apply-bench-gateway",
    cluster: "sessiongate-gateway",
    metadata: { role: "gateway", listener_address: "127.0.0.1", listener_port: listenerPort },
  };
  for (const [i, t] of TYPES.entries())
    call.write({ node: i === 0 ? node : undefined, typeUrl: t, resourceNamesSubscribe: ["*"] });
  return {
    held: (t: string) => held.get(t) ?? new Set<string>(),
    /** Resolves when `done()` holds after an update (checked on every response); rejects if the stream fails. */
    until: (done: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        onUpdate = () => {
          if (failed) reject(new Error(`ADS stream failed: ${failed.message}`));
          else if (done()) resolve();
        };
        onUpdate();
      }),
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Applies `apps` apps from a directory into a fresh xds-server on a fresh
 * Redis and times it. Starts and stops everything it uses.
 */
export async function measureApply(
  opts: { apps?: number; log?: (line: string) => void; maxMs?: number } = {},
): Promise<ApplyFigures> {
  const n = opts.apps ?? 10_000;
  const log = opts.log ?? (() => {});
  const redis = await startRedis();
  const issuer = await startIssuer();
  const dir = writeAppFiles(n, issuer.issuer, issuer.port);
  const [xdsPort, apiPort, httpPort, listenerPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const dist = join(REPO_ROOT, "build", "dist", "xds-server");
  const useDist = existsSync(join(dist, "main.js"));
  const entry = (ts: string) =>
    useDist ? [join(dist, `${ts}.js`)] : ["--import", "tsx", join(REPO_ROOT, "xds-server", `${ts}.ts`)];
  const server = await startProcess({
    name: "apply-bench-xds-server",
    cmd: process.execPath,
    args: [
      // PROF=DIR: the server writes a V8 CPU profile there (where an apply's time goes).
      ...(process.env.PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROF}`] : []),
      ...entry("main"),
      `--xds-port=${xdsPort}`,
      "--xds-insecure", // loopback only
      `--api-port=${apiPort}`,
      `--http-port=${httpPort}`,
      `--api-token=${TOKEN}`,
      "--gateway-address=127.0.0.1",
      `--wasm-file=${WASM_PATH}`,
      `--redis-url=${redis.url}`,
      `--secret-keys=${SECRET_KEYS}`,
      "--log-level=warn",
    ],
    cwd: REPO_ROOT,
    ready: { url: `http://127.0.0.1:${httpPort}/readyz` },
    readyTimeoutMs: 60_000,
  });
  const ads = deltaClient(`127.0.0.1:${xdsPort}`, listenerPort);
  const revBefore = await redisRevision(redis.url);
  try {
    const ids = Array.from({ length: n }, (_, i) => `b${String(i).padStart(5, "0")}`);
    const served = () => {
      const clusters = ads.held(CLUSTER);
      const vhosts = ads.held(VHOST);
      return ids.every(
        (id) => clusters.has(`sg_app_${id}`) && vhosts.has(`sessiongate_gateway/${appHost(id)}`),
      );
    };
    log(`applying ${n} apps from ${dir} (${useDist ? "build/dist" : "tsx"})`);
    const t0 = performance.now();
    let servedAt = Number.NaN;
    let adsError: Error | undefined;
    const servedP = ads.until(served).then(
      () => {
        servedAt = performance.now();
      },
      (e: Error) => {
        adsError = e;
      },
    );
    const cli = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [...entry("cli/main"), "apps", "apply", "-f", dir], {
        cwd: REPO_ROOT,
        env: { ...process.env, SESSIONGATE_SERVER: `127.0.0.1:${apiPort}`, SESSIONGATE_TOKEN: TOKEN },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += d;
        for (const l of String(d).split("\n")) if (l) log(`  cli: ${l}`);
      });
      child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
    });
    const writtenAt = performance.now();
    if (cli.code !== 0) throw new Error(`apps apply exited ${cli.code}: ${cli.stderr.slice(-2000)}`);
    const maxMs = opts.maxMs ?? 120_000;
    await Promise.race([servedP, new Promise((r) => setTimeout(r, maxMs).unref())]);
    if (adsError) throw adsError;
    if (Number.isNaN(servedAt))
      throw new Error(
        `not every app served within ${maxMs} ms: ${ads.held(CLUSTER).size} clusters, ${ads.held(VHOST).size} virtual hosts`,
      );
    const readS = Number(/read \d+ app\(s\) from .* in ([\d.]+) s/.exec(cli.stderr)?.[1] ?? Number.NaN);
    return {
      apps: n,
      writtenS: (writtenAt - t0) / 1000,
      servedS: (servedAt - t0) / 1000,
      readS,
      discoveryFetches: issuer.fetches(),
      revisions: (await redisRevision(redis.url)) - revBefore,
      xdsServerRssMiB: rssMiB(server.pid),
      loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    };
  } finally {
    ads.close();
    await server.stop();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function redisRevision(url: string): Promise<number> {
  const { Redis } = await import("ioredis");
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return Number((await r.get("sg:rev")) ?? 0);
  } finally {
    r.disconnect();
  }
}
