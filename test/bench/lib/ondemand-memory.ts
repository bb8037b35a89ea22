// Envoy's memory with on-demand virtual hosts: N apps registered, a real Envoy
// gateway (envoy/gateway-ads.yaml: Delta ADS, node metadata vhds: on_demand)
// serves S of them. Reports Envoy's RSS once the S hosts are loaded (goal of
// issue 14: ≤ 150 MiB at 10,000 registered, 100 served), the latency of the
// first request to a cold host (the on-demand round trip) against a warm one,
// and what distinct unknown Host headers cost Envoy (it keeps each name it
// asked the control plane for; see docs/architecture.md, Known limits).
// The control-plane bench group runs it at 10,000 apps; the standalone entry
// is test/bench/ondemand-memory.ts.
import { loadavg } from "node:os";
import { join } from "node:path";
import { freePort, REPO_ROOT, startEnvoy, waitFor } from "../../harness/index.js";
import {
  appHost,
  applyApps,
  type ControlPlane,
  type JwksServer,
  probe,
  startControlPlane,
  startJwksServer,
} from "./control-plane.js";
import { pin, rssBytes } from "./pin.js";
import { percentile } from "./stats.js";

const MiB = 1024 * 1024;

export interface OnDemandMemoryOptions {
  /** Apps registered (each on its own host). */
  apps: number;
  /** Of those, hosts requested through Envoy (each loaded on demand). */
  served: number;
  /** Distinct unknown hosts requested afterwards (Envoy's per-name cost); 0 skips it. */
  unknownHosts?: number;
  /** CPU lists for Envoy and the control plane (taskset), "" for none. */
  cpus?: { envoy: string; load: string };
  progress?: (line: string) => void;
}

export interface OnDemandMemoryResult {
  apps: number;
  served: number;
  /** Envoy RSS once connected, before any host was requested (anchor only). */
  envoyRssIdleMiB: number;
  /** Envoy RSS with `served` hosts loaded. */
  envoyRssMiB: number;
  /** Virtual hosts Envoy holds at the end (from its config dump). */
  loadedHosts: number;
  /** First request to a cold host (on-demand load + the request), ms. */
  coldMs: { p50: number; p99: number };
  /** The same request again, host loaded, ms. */
  warmMs: { p50: number; p99: number };
  /** Envoy RSS growth per distinct unknown host asked for, bytes (NaN when not measured). */
  unknownHostBytes: number;
  cpRssMiB: number;
  registerSeconds: number;
  /** 1-minute load average at the start and at the end (a shared machine). */
  loadAvg: [number, number];
}

/** Registers the apps by ApplyApps (batch writes): one-by-one CreateApp calls took minutes at 10,000. */
async function registerAll(cp: ControlPlane, jwks: JwksServer, n: number, progress: (s: string) => void) {
  const ids = Array.from({ length: n }, (_, i) => `app-${i}`);
  await applyApps(cp, ids, jwks, (done) => progress(`registered ${done}/${n}`));
}

async function loadedHostCount(adminUrl: string): Promise<number> {
  const dump = await (await fetch(`${adminUrl}/config_dump?resource=dynamic_route_configs`)).text();
  return new Set(dump.match(/"name": ?"sessiongate_gateway\/[^"]+"/g) ?? []).size;
}

/** Envoy's RSS after a short settle (freed memory goes back lazily): the lowest of a few samples. */
async function settledRss(pid: number): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 400));
    low = Math.min(low, rssBytes(pid));
  }
  return low;
}

export async function measureOnDemandMemory(o: OnDemandMemoryOptions): Promise<OnDemandMemoryResult> {
  const progress = o.progress ?? (() => {});
  const cpus = o.cpus ?? { envoy: "", load: "" };
  const load0 = loadavg()[0];
  const jwks = await startJwksServer();
  const cp = await startControlPlane(cpus.load);
  try {
    const t0 = performance.now();
    await registerAll(cp, jwks, o.apps, progress);
    const registerSeconds = (performance.now() - t0) / 1000;
    progress(`${o.apps} apps registered in ${registerSeconds.toFixed(1)} s; Envoy connects`);
    const port = await freePort();
    const envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
      name: "bench-ondemand-gw",
      logLevel: "warning",
      vars: {
        NODE_ID: "bench-ondemand-gw",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    try {
      pin(envoy.proc.pid, cpus.envoy);
      await waitFor(
        "the gateway listener",
        async () => (await probe(port, "sessiongate.invalid")) === 404,
        120_000,
      );
      const envoyRssIdleMiB = (await settledRss(envoy.proc.pid)) / MiB;
      const cold: number[] = [];
      const warm: number[] = [];
      const step = Math.max(1, Math.floor(o.apps / o.served));
      for (let k = 0; k < o.served; k++) {
        const host = appHost(`app-${(k * step) % o.apps}`);
        // No token: a served host answers 401 (jwt_authn on its route); 404 would mean not loaded.
        let t = performance.now();
        const s1 = await probe(port, host);
        cold.push(performance.now() - t);
        t = performance.now();
        const s2 = await probe(port, host);
        warm.push(performance.now() - t);
        if (s1 !== 401 || s2 !== 401) throw new Error(`${host}: cold ${s1}, warm ${s2} (expected 401, 401)`);
        if (k % 20 === 19) progress(`served ${k + 1}/${o.served}`);
      }
      const envoyRssMiB = (await settledRss(envoy.proc.pid)) / MiB;
      const loadedHosts = await loadedHostCount(envoy.adminUrl);
      let unknownHostBytes = Number.NaN;
      if (o.unknownHosts) {
        const before = await settledRss(envoy.proc.pid);
        for (let i = 0; i < o.unknownHosts; i += 50)
          await Promise.all(
            Array.from({ length: Math.min(50, o.unknownHosts - i) }, (_, j) =>
              probe(port, `unknown-${i + j}-${"x".repeat(40)}.example`),
            ),
          );
        unknownHostBytes = ((await settledRss(envoy.proc.pid)) - before) / o.unknownHosts;
      }
      const cpRssMiB = rssBytes(cp.proc.pid) / MiB;
      const ms = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99) });
      return {
        apps: o.apps,
        served: o.served,
        envoyRssIdleMiB,
        envoyRssMiB,
        loadedHosts,
        coldMs: ms(cold),
        warmMs: ms(warm),
        unknownHostBytes,
        cpRssMiB,
        registerSeconds,
        loadAvg: [load0, loadavg()[0]],
      };
    } finally {
      await envoy.stop();
    }
  } finally {
    await cp.stop();
  }
}
