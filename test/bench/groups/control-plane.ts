// Control plane, issue 14's figures from one run: per level (100 / 1,000, and
// 10,000 in the full run or with SESSIONGATE_BENCH_CP_APPS), a fresh
// xds-server with a real Envoy connected (Delta ADS, gateway-ads.yaml) gets
// the apps by ApplyApps (time until every app is served), then one-app
// registrations are timed until served with 1 Envoy and with 100 simulated
// Delta ADS clients; xds-server and Envoy RSS; and the bytes one node is sent
// per one-app change, per resource type (ECDS and VHDS included), SotW and Delta.
import { join } from "node:path";
import { type EnvoyHandle, freePort, REPO_ROOT, startEnvoy } from "../../harness/index.js";
import { ADS_TYPES, type AdsSim, settle, shortType, startAdsSim } from "../lib/ads-client.js";
import {
  appHost,
  applyApps,
  type ControlPlane,
  type JwksServer,
  probe,
  register,
  startControlPlane,
  startJwksServer,
  untilServed,
} from "../lib/control-plane.js";
import { measureOnDemandMemory } from "../lib/ondemand-memory.js";
import { cpuSeconds, pin, rssBytes } from "../lib/pin.js";
import { fmt, percentile, type Sample, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, BenchOptions, Goal, GroupResult } from "../lib/types.js";

const MiB = 2 ** 20;

/** App counts measured: 100 and 1,000 (quick), 10,000 too (full); SESSIONGATE_BENCH_CP_APPS=100,10000 overrides. */
export function levels(o: BenchOptions, env = process.env.SESSIONGATE_BENCH_CP_APPS): number[] {
  if (env) {
    const xs = env.split(",").map((x) => Number(x.trim()));
    if (xs.some((x) => !Number.isInteger(x) || x < 1))
      throw new Error(`SESSIONGATE_BENCH_CP_APPS: not a list of app counts: ${env}`);
    return xs;
  }
  return o.quick ? [100, 1000] : [100, 1000, 10_000];
}
const regsPerLevel = (o: BenchOptions, level: number) => (o.quick ? (level >= 1000 ? 12 : 30) : 200);
/** Simulated clients per level: 1 / 10 / 100 at 1,000 apps in the full run, else 100 only. */
const simCounts = (o: BenchOptions, level: number) => (!o.quick && level === 1000 ? [1, 10, 100] : [100]);
const TYPES = ADS_TYPES.map(shortType);

interface RegRun {
  latMs: number[];
  failed: number;
  /** Registrations made (fewer than asked when the time bound hit). */
  done: number;
}

async function measureRegistrations(
  cp: ControlPlane,
  jwks: JwksServer,
  gwPort: number,
  tag: string,
  n: number,
  onStep: (i: number) => void,
  maxTotalMs: number,
): Promise<RegRun> {
  const latMs: number[] = [];
  let failed = 0;
  const deadline = Date.now() + maxTotalMs;
  for (let i = 0; i < n && Date.now() < deadline; i++) {
    onStep(i);
    const id = `m-${tag}-${i}`;
    const t0 = performance.now();
    await register(cp, id, jwks);
    const t1 = await untilServed(gwPort, appHost(id), 10_000);
    if (Number.isFinite(t1)) latMs.push(t1 - t0);
    else failed++;
  }
  return { latMs, failed, done: latMs.length + failed };
}

/** Waits until the gateway listener answers (404 for an unknown host). */
async function untilListening(port: number, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    if ((await probe(port, "nobody.bench.test")) === 404) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** Notes (and returns true) when a simulated client's stream failed: its figures are not used. */
function failedStreams(sims: AdsSim[], what: string, notes: string[]): boolean {
  const failed = sims.filter((s) => s.error);
  if (failed.length)
    notes.push(`${what}: ${failed.length} simulated stream(s) failed (${failed[0].error}); not counted.`);
  return failed.length > 0;
}

interface Level {
  notes: string[];
  cp: ControlPlane;
  jwks: JwksServer;
  gwPort: number;
  level: number;
  figures: Record<string, Sample>;
}

/** K simulated Delta clients (same node metadata as the real Envoy: one shared snapshot) + the Envoy. */
async function withSims(ctx: BenchContext, l: Level, k: number, upd: (w: string) => void): Promise<string[]> {
  const { cp, gwPort, level, figures } = l;
  upd(`${fmt(level)} apps: ${k} simulated ADS client(s) syncing`);
  const sims: AdsSim[] = Array.from({ length: k }, (_, i) =>
    startAdsSim(`127.0.0.1:${cp.xdsPort}`, "delta", `sim-${level}-${k}-${i}`, gwPort),
  );
  try {
    await settle(sims, 1000, ctx.opts.quick ? 120_000 : 300_000);
    const m = ctx.opts.quick ? 3 : 20;
    const c0 = cpuSeconds(cp.proc.pid);
    const rr = await measureRegistrations(
      cp,
      l.jwks,
      gwPort,
      `sims${level}-${k}`,
      m,
      (i) => upd(`${fmt(level)} apps, ${k} ADS client(s): registration ${i + 1}/${m} -> served`),
      ctx.opts.quick ? 60_000 : 180_000,
    );
    await settle(sims, 500, 60_000);
    failedStreams(sims, `${fmt(level)} apps, ${k} ADS clients`, l.notes);
    const cpu = ((cpuSeconds(cp.proc.pid) - c0) * 1000) / Math.max(1, rr.done);
    const rss = rssBytes(cp.proc.pid) / MiB;
    const kk = `apps_${level}.ads_${k}`;
    figures[`${kk}.p50_ms`] = summarize([percentile(rr.latMs, 50)], "ms");
    figures[`${kk}.p99_ms`] = summarize([percentile(rr.latMs, 99)], "ms");
    figures[`${kk}.cp_rss_mib`] = summarize([rss], "MiB");
    figures[`${kk}.cp_cpu_ms_per_registration`] = summarize([cpu], "ms");
    return [
      fmt(level),
      `${k} + 1 Envoy`,
      `${rr.done}${rr.failed ? ` (${rr.failed} not served in 10 s)` : ""}`,
      fmt(percentile(rr.latMs, 50)),
      fmt(percentile(rr.latMs, 99)),
      fmt(rss),
      fmt(cpu),
    ];
  } finally {
    for (const s of sims) s.close();
  }
}

/** Bytes one SotW and one Delta node are sent per one-app change, per type. */
async function bytesPerChange(ctx: BenchContext, l: Level, upd: (w: string) => void): Promise<string[][]> {
  const { cp, gwPort, level, figures } = l;
  upd(`${fmt(level)} apps: bytes per one-app change, SotW and Delta`);
  const sotw = startAdsSim(`127.0.0.1:${cp.xdsPort}`, "sotw", `bytes-sotw-${level}`, gwPort);
  const delta = startAdsSim(`127.0.0.1:${cp.xdsPort}`, "delta", `bytes-delta-${level}`, gwPort);
  try {
    await settle([sotw, delta], 1000, ctx.opts.quick ? 120_000 : 300_000);
    const per = new Map<string, number[]>();
    const add = (k: string, v: number) => per.set(k, [...(per.get(k) ?? []), v]);
    for (let rep = 0; rep < ctx.opts.reps; rep++) {
      for (const s of [sotw, delta]) {
        s.bytes = 0;
        s.bytesByType = {};
      }
      await register(cp, `bytes-${level}-${rep}`, l.jwks);
      await new Promise((r) => setTimeout(r, 200));
      await settle([sotw, delta], 500, 60_000);
      for (const s of [sotw, delta]) {
        add(`${s.mode}.total`, s.bytes);
        for (const t of TYPES) add(`${s.mode}.${t}`, s.bytesByType[t] ?? 0);
      }
    }
    if (failedStreams([sotw, delta], `${fmt(level)} apps, bytes per change`, l.notes)) return [];
    for (const [k, v] of per) figures[`apps_${level}.bytes_per_change.${k}`] = summarize(v, "bytes");
    return (["delta", "sotw"] as const).map((m) => [
      fmt(level),
      m === "delta" ? "Delta" : "SotW",
      fmt(figures[`apps_${level}.bytes_per_change.${m}.total`].median),
      ...TYPES.map((t) => fmt(figures[`apps_${level}.bytes_per_change.${m}.${t}`].median)),
    ]);
  } finally {
    sotw.close();
    delta.close();
  }
}

const median = (figures: Record<string, Sample>, k: string) => figures[k]?.median ?? Number.NaN;

function goal(name: string, target: string, value: number, unit: string, limit: number, extra = ""): Goal {
  return {
    name,
    target,
    measured: Number.isFinite(value) ? `${fmt(value)} ${unit}${extra}` : "not measured in this run",
    met: Number.isFinite(value) ? value <= limit : null,
  };
}

export const controlPlaneGroup: BenchGroup = {
  name: "control-plane",
  title: "Control plane (xds-server): apply and register -> served, memory, ADS clients, bytes per change",
  estimateS: (o: BenchOptions) => (o.quick ? 240 : 1500),
  tools: ["envoy", "taskset"],
  async run(ctx: BenchContext): Promise<GroupResult> {
    const { opts } = ctx;
    const jwks = await startJwksServer();
    const figures: Record<string, Sample> = {};
    const rows: string[][] = [];
    const simRows: string[][] = [];
    const byteRows: string[][] = [];
    const notes: string[] = [];
    let entry = "";
    const lv = levels(opts);
    const totalSteps = lv.reduce((n, l) => n + 3 + simCounts(opts, l).length, 0);
    let step = 0;
    const upd = (what: string) => ctx.progress.update(what, Math.min(0.99, step / totalSteps));
    for (const level of lv) {
      const cp = await startControlPlane(ctx.cpus.load);
      entry = cp.entry;
      const gwPort = await freePort();
      let envoy: EnvoyHandle | undefined;
      try {
        upd(`${fmt(level)} apps: Envoy connects (empty registry)`);
        envoy = await startEnvoy({
          file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
          name: "bench-gateway",
          logLevel: "warning",
          waitReady: false,
          vars: {
            NODE_ID: "bench-gw",
            XDS_HOST: "127.0.0.1",
            XDS_PORT: cp.xdsPort,
            LISTENER_ADDRESS: "127.0.0.1",
            LISTENER_PORT: gwPort,
          },
        });
        pin(envoy.proc.pid, ctx.cpus.envoy);
        if (!(await untilListening(gwPort, 60_000))) throw new Error("the gateway listener never came up");
        // Apply every app with the Envoy connected: until the last one is served.
        const ids = Array.from({ length: level }, (_, i) => `app-${i}`);
        const a0 = performance.now();
        const applyS = await applyApps(cp, ids, jwks, (n) =>
          upd(`${fmt(level)} apps: applied ${fmt(n)}/${fmt(level)} (ApplyApps, Envoy connected)`),
        );
        const served = await untilServed(gwPort, appHost(ids.at(-1)!), opts.quick ? 120_000 : 600_000);
        const servedS = (served - a0) / 1000;
        figures[`apps_${level}.apply_s`] = summarize([applyS], "s");
        figures[`apps_${level}.apply_until_served_s`] = summarize([servedS], "s");
        step++;
        const n = regsPerLevel(opts, level);
        const cpu1 = cpuSeconds(cp.proc.pid);
        const r = await measureRegistrations(
          cp,
          jwks,
          gwPort,
          String(level),
          n,
          (i) => upd(`${fmt(level)} apps: registration ${i + 1}/${n} -> served`),
          opts.quick ? 90_000 : 300_000,
        );
        const cpuPerReg = ((cpuSeconds(cp.proc.pid) - cpu1) * 1000) / Math.max(1, r.done);
        step++;
        const k = `apps_${level}`;
        const cpRss = rssBytes(cp.proc.pid) / MiB;
        const envoyRss = envoy.rssBytes() / MiB;
        figures[`${k}.register_served_ms`] = summarize(r.latMs, "ms");
        figures[`${k}.p50_ms`] = summarize([percentile(r.latMs, 50)], "ms");
        figures[`${k}.p99_ms`] = summarize([percentile(r.latMs, 99)], "ms");
        figures[`${k}.cp_rss_mib`] = summarize([cpRss], "MiB");
        // The shipped bootstrap loads hosts on demand: Envoy holds the hosts probed here.
        figures[`${k}.envoy_rss_hosts_probed_mib`] = summarize([envoyRss], "MiB");
        figures[`${k}.cp_cpu_ms_per_registration`] = summarize([cpuPerReg], "ms");
        rows.push([
          fmt(level),
          `${fmt(applyS)} s`,
          Number.isFinite(servedS) ? `${fmt(servedS)} s` : "not within bound",
          `${r.done}${r.failed ? ` (${r.failed} not served in 10 s)` : ""}`,
          fmt(percentile(r.latMs, 50)),
          fmt(percentile(r.latMs, 99)),
          fmt(cpRss),
          fmt(cpuPerReg),
          fmt(envoyRss),
        ]);
        const l: Level = { cp, jwks, gwPort, level, figures, notes };
        for (const kSims of simCounts(opts, level)) {
          simRows.push(await withSims(ctx, l, kSims, upd));
          step++;
        }
        byteRows.push(...(await bytesPerChange(ctx, l, upd)));
        step++;
      } finally {
        await envoy?.stop();
        await cp.stop();
      }
    }
    const top = Math.max(...lv);
    if (top >= 10_000) {
      // The goal's situation: 10,000 registered, 100 of them served by an on-demand gateway.
      upd("Envoy RSS: 10,000 apps registered, 100 served on demand");
      const od = await measureOnDemandMemory({
        apps: 10_000,
        served: 100,
        cpus: ctx.cpus,
        progress: (line) => upd(`on-demand memory: ${line}`),
      });
      figures["apps_10000.envoy_rss_100_served_mib"] = summarize([od.envoyRssMiB], "MiB");
      figures["apps_10000.on_demand_cold_p99_ms"] = summarize([od.coldMs.p99], "ms");
      notes.push(
        `On-demand gateway at 10,000 registered apps: Envoy RSS ${fmt(od.envoyRssMiB)} MiB with ${od.served} hosts served (${od.loadedHosts} virtual hosts loaded; ${fmt(od.envoyRssIdleMiB)} MiB before any request); first request to a cold host p50 ${fmt(od.coldMs.p50)} ms, p99 ${fmt(od.coldMs.p99)} ms; warm p50 ${fmt(od.warmMs.p50)} ms.`,
      );
    }
    const at = (k: string) => median(figures, k);
    const goals: Goal[] = [
      goal("register -> served p99, 1 Envoy, 1,000 apps", "<= 50 ms", at("apps_1000.p99_ms"), "ms", 50),
      goal("register -> served p99, 1 Envoy, 10,000 apps", "<= 50 ms", at("apps_10000.p99_ms"), "ms", 50),
      goal(
        "bytes to one node per one-app change, all types, 10,000 apps",
        "<= 16 KB",
        at("apps_10000.bytes_per_change.delta.total"),
        "bytes (Delta)",
        16_000,
      ),
      goal(
        "register -> served p99 with 100 ADS clients, 1,000 apps",
        "<= 100 ms",
        at("apps_1000.ads_100.p99_ms"),
        "ms",
        100,
      ),
      goal(
        "xds-server RSS, 10,000 apps and 100 ADS clients",
        "<= 300 MiB",
        at("apps_10000.ads_100.cp_rss_mib"),
        "MiB",
        300,
      ),
      goal(
        "Envoy RSS, 10,000 registered apps, 100 of them served",
        "<= 150 MiB",
        at("apps_10000.envoy_rss_100_served_mib"),
        "MiB",
        150,
      ),
      goal(
        "ApplyApps of 10,000 apps until every one is served",
        "<= 20 s",
        at("apps_10000.apply_until_served_s"),
        "s",
        20,
      ),
    ];
    if (top < 10_000)
      notes.push(
        `This run measured up to ${fmt(top)} apps: the 10,000-app goals are "not measured" (full run, or SESSIONGATE_BENCH_CP_APPS=100,1000,10000).`,
      );
    return {
      group: "control-plane",
      title: controlPlaneGroup.title,
      figures,
      goals,
      tables: [
        {
          title:
            "Apply the apps (ApplyApps, <= 1,000 per call, Envoy connected), then register (CreateApp) -> served by the real Envoy",
          columns: [
            "apps",
            "ApplyApps calls",
            "apply until every app served",
            "registrations",
            "p50 ms",
            "p99 ms",
            "xds-server RSS MiB",
            "xds-server CPU ms / registration",
            "Envoy RSS MiB (hosts probed, on demand)",
          ],
          rows,
        },
        {
          title: 'With simulated ADS clients (Delta, subscribe "*" to every type, ACK every response)',
          columns: [
            "apps",
            "ADS clients",
            "registrations",
            "p50 ms",
            "p99 ms",
            "xds-server RSS MiB",
            "xds-server CPU ms / registration",
          ],
          rows: simRows,
        },
        {
          title: `Bytes sent to one node per one-app change, per resource type (median of ${opts.reps} changes)`,
          columns: ["apps", "protocol", "all types", ...TYPES],
          rows: byteRows,
        },
      ],
      notes: [
        `xds-server: ${entry}, in-memory registry, a fresh process and Envoy per level, pinned with the load CPUs; Envoy: envoy/gateway-ads.yaml (Delta ADS), --concurrency 1, connected before the apps are applied.`,
        "ApplyApps: the level's apps in calls of <= 1,000 specs (under the API's 1 MiB message limit); 'apply until every app served' runs from the first call to the first non-404 answer for the last app's Host.",
        "register -> served: from sending CreateApp to the first answer other than 404 for the app's Host through the gateway (Envoy has the route; jwt_authn then answers 401). Probes are sequential HTTP requests, so the figure includes one probe interval (~1 ms).",
        "Each app has its own host, a jwt rule with a remote JWKS (one shared loopback JWKS server, one issuer and audience) and one upstream.",
        "Percentiles of register -> served are over all registrations of a level (one sample per level, so min = median = max).",
        "Bytes per change: wire bytes of the ADS responses one simulated node receives for one CreateApp, every type subscribed (ECDS and VHDS included; SotW nodes get no VHDS, their virtual hosts are inside the RouteConfiguration).",
        "Envoy RSS per level: the gateway loads virtual hosts on demand (node metadata vhds: on_demand), so it holds the hosts the probes asked for and their apps' clusters; the goal's figure (10,000 registered, 100 served) is measured separately at 10,000 apps (test/bench/lib/ondemand-memory.ts).",
        ...notes,
      ],
    };
  },
};
