// Control plane: register -> served by a real Envoy (Delta ADS, gateway-ads.yaml)
// with 100 / 1,000 (/ 10,000 full run) apps already registered; control-plane
// RSS and CPU; the same with 1 / 10 / 100 simulated ADS clients that ACK; and
// the bytes pushed for a one-app change, SotW vs Delta.
import { join } from "node:path";
import { type EnvoyHandle, freePort, REPO_ROOT, startEnvoy } from "../../harness/index.js";
import { ADS_TYPES, type AdsSim, settle, shortType, startAdsSim } from "../lib/ads-client.js";
import {
  appHost,
  type ControlPlane,
  type JwksServer,
  register,
  startControlPlane,
  startJwksServer,
  untilServed,
} from "../lib/control-plane.js";
import { cpuSeconds, pin, rssBytes } from "../lib/pin.js";
import { cell, fmt, percentile, type Sample, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, BenchOptions, Goal, GroupResult } from "../lib/types.js";

const MiB = 2 ** 20;
const levels = (o: BenchOptions) => (o.quick ? [100, 1000] : [100, 1000, 10_000]);
const regsPerLevel = (o: BenchOptions, level: number) => (o.quick ? (level >= 1000 ? 12 : 30) : 200);
const SIM_COUNTS = [1, 10, 100];

/** Registers apps `from..to-1` with a few calls in flight; bounded by `maxMs`. */
async function bulkRegister(
  cp: ControlPlane,
  jwks: JwksServer,
  from: number,
  to: number,
  maxMs: number,
  onProgress: (n: number) => void,
): Promise<number> {
  let next = from;
  const deadline = Date.now() + maxMs;
  const worker = async () => {
    while (next < to && Date.now() < deadline) {
      const i = next++;
      await register(cp, `app-${i}`, jwks);
      if (i % 50 === 0) onProgress(i);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return next;
}

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

/** At 1,000 apps: K simulated Delta clients + the real Envoy, then bytes per change SotW vs Delta. */
async function adsFanOut(
  ctx: BenchContext,
  cp: ControlPlane,
  jwks: JwksServer,
  gwPort: number,
  figures: Record<string, Sample>,
  simRows: string[][],
  upd: (what: string) => void,
  stepDone: () => void,
): Promise<void> {
  const { opts } = ctx;
  for (const kSims of SIM_COUNTS) {
    upd(`${kSims} simulated ADS client(s) syncing`);
    // Same node metadata as the real Envoy (a fleet of identical gateways): the
    // xds-server builds one snapshot per role and shares it.
    const sims: AdsSim[] = Array.from({ length: kSims }, (_, i) =>
      startAdsSim(`127.0.0.1:${cp.xdsPort}`, "delta", `sim-${kSims}-${i}`, gwPort),
    );
    await settle(sims, 1000, 120_000);
    const m = opts.quick ? 3 : 20;
    const c0 = cpuSeconds(cp.proc.pid);
    const rr = await measureRegistrations(
      cp,
      jwks,
      gwPort,
      `sims${kSims}`,
      m,
      (i) => upd(`${kSims} ADS client(s): registration ${i + 1}/${m} -> served`),
      opts.quick ? 60_000 : 180_000,
    );
    await settle(sims, 500, 30_000);
    const c1 = cpuSeconds(cp.proc.pid);
    const kk = `ads_${kSims}`;
    const rss = rssBytes(cp.proc.pid) / MiB;
    figures[`${kk}.p50_ms`] = summarize([percentile(rr.latMs, 50)], "ms");
    figures[`${kk}.p99_ms`] = summarize([percentile(rr.latMs, 99)], "ms");
    figures[`${kk}.cp_rss_mib`] = summarize([rss], "MiB");
    figures[`${kk}.cp_cpu_ms_per_registration`] = summarize(
      [((c1 - c0) * 1000) / Math.max(1, rr.done)],
      "ms",
    );
    simRows.push([
      `${kSims} + 1 Envoy`,
      String(rr.done),
      fmt(percentile(rr.latMs, 50)),
      fmt(percentile(rr.latMs, 99)),
      fmt(rss),
      fmt(((c1 - c0) * 1000) / Math.max(1, rr.done)),
    ]);
    for (const s of sims) s.close();
    stepDone();
  }
  upd("bytes per one-app change, SotW vs Delta");
  const sotw = startAdsSim(`127.0.0.1:${cp.xdsPort}`, "sotw", "bytes-sotw", gwPort);
  const delta = startAdsSim(`127.0.0.1:${cp.xdsPort}`, "delta", "bytes-delta", gwPort);
  await settle([sotw, delta], 1000, 120_000);
  const sB: number[] = [];
  const dB: number[] = [];
  // Per resource type (ECDS and VHDS included), Delta and SotW.
  const perType = new Map<string, number[]>();
  for (let rep = 0; rep < opts.reps; rep++) {
    sotw.bytes = 0;
    delta.bytes = 0;
    sotw.bytesByType = {};
    delta.bytesByType = {};
    await register(cp, `bytes-${rep}`, jwks);
    await new Promise((r) => setTimeout(r, 200));
    await settle([sotw, delta], 500, 30_000);
    sB.push(sotw.bytes);
    dB.push(delta.bytes);
    for (const sim of [sotw, delta])
      for (const t of ADS_TYPES.map(shortType)) {
        const k = `bytes_per_change.${sim.mode}.${t}`;
        perType.set(k, [...(perType.get(k) ?? []), sim.bytesByType[t] ?? 0]);
      }
  }
  for (const [k, v] of perType) figures[k] = summarize(v, "bytes");
  sotw.close();
  delta.close();
  figures["bytes_per_change.sotw"] = summarize(sB, "bytes");
  figures["bytes_per_change.delta"] = summarize(dB, "bytes");
  figures["bytes_per_change.sotw_over_delta"] = summarize(
    sB.map((x, i) => x / dB[i]),
    "x",
  );
  stepDone();
}

export const controlPlaneGroup: BenchGroup = {
  name: "control-plane",
  title: "Control plane (xds-server): register -> served, memory, ADS clients, bytes per change",
  estimateS: (o: BenchOptions) => (o.quick ? 150 : 900),
  tools: ["envoy", "taskset"],
  async run(ctx: BenchContext): Promise<GroupResult> {
    const { opts } = ctx;
    const jwks = await startJwksServer();
    const figures: Record<string, Sample> = {};
    const rows: string[][] = [];
    const simRows: string[][] = [];
    const notes: string[] = [];
    let entry = "";
    const totalSteps = levels(opts).length * 3 + SIM_COUNTS.length + 1;
    let step = 0;
    const upd = (what: string) => ctx.progress.update(what, Math.min(0.99, step / totalSteps));
    // One fresh control plane + Envoy per level: the apps are registered before
    // any node connects (no pushes), then Envoy connects and syncs them all.
    for (const level of levels(opts)) {
      const cp = await startControlPlane(ctx.cpus.load);
      entry = cp.entry;
      const gwPort = await freePort();
      let envoy: EnvoyHandle | undefined;
      try {
        upd(`registering ${level.toLocaleString("en-US")} apps (no node connected)`);
        const t0 = Date.now();
        const registered = await bulkRegister(cp, jwks, 0, level, opts.quick ? 120_000 : 600_000, (i) =>
          upd(
            `registering apps: ${i.toLocaleString("en-US")}/${level.toLocaleString("en-US")} (no node connected)`,
          ),
        );
        const bulkS = (Date.now() - t0) / 1000;
        step++;
        if (registered < level)
          notes.push(`Only ${registered} of ${level} apps could be registered within the time bound.`);
        upd(`${level.toLocaleString("en-US")} apps: Envoy connects and syncs`);
        const e0 = performance.now();
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
        const synced = await untilServed(
          gwPort,
          appHost(`app-${registered - 1}`),
          opts.quick ? 120_000 : 600_000,
        );
        const syncS = (synced - e0) / 1000;
        step++;
        const n = regsPerLevel(opts, level);
        const cpu1 = cpuSeconds(cp.proc.pid);
        const r = await measureRegistrations(
          cp,
          jwks,
          gwPort,
          String(level),
          n,
          (i) => upd(`${level.toLocaleString("en-US")} apps: registration ${i + 1}/${n} -> served`),
          opts.quick ? 90_000 : 300_000,
        );
        const cpu2 = cpuSeconds(cp.proc.pid);
        step++;
        const k = `apps_${level}`;
        const p50 = percentile(r.latMs, 50);
        const p99 = percentile(r.latMs, 99);
        const cpRss = rssBytes(cp.proc.pid) / MiB;
        const envoyRss = envoy.rssBytes() / MiB;
        const cpuPerReg = ((cpu2 - cpu1) * 1000) / Math.max(1, r.done);
        figures[`${k}.register_served_ms`] = summarize(r.latMs, "ms");
        figures[`${k}.p50_ms`] = summarize([p50], "ms");
        figures[`${k}.p99_ms`] = summarize([p99], "ms");
        figures[`${k}.cp_rss_mib`] = summarize([cpRss], "MiB");
        figures[`${k}.envoy_rss_mib`] = summarize([envoyRss], "MiB");
        figures[`${k}.cp_cpu_ms_per_registration`] = summarize([cpuPerReg], "ms");
        figures[`${k}.bulk_register_s`] = summarize([bulkS], "s");
        figures[`${k}.envoy_initial_sync_s`] = summarize([syncS], "s");
        rows.push([
          level.toLocaleString("en-US"),
          `${r.done}${r.failed ? ` (${r.failed} not served in 10 s)` : ""}`,
          fmt(p50),
          fmt(p99),
          fmt(cpRss),
          fmt(cpuPerReg),
          fmt(envoyRss),
          `${fmt(bulkS)} s`,
          Number.isFinite(syncS) ? `${fmt(syncS)} s` : "not within bound",
        ]);
        if (level === 1000) await adsFanOut(ctx, cp, jwks, gwPort, figures, simRows, upd, () => step++);
      } finally {
        await envoy?.stop();
        await cp.stop();
      }
    }
    const p99At1000 = figures["apps_1000.p99_ms"];
    const goals: Goal[] = [
      {
        name: "register -> served p99 at 1,000 apps",
        target: "<= 100 ms",
        measured: p99At1000
          ? `${fmt(p99At1000.median)} ms (p50 ${fmt(figures["apps_1000.p50_ms"].median)} ms, ${regsPerLevel(opts, 1000)} registrations)`
          : "n/a",
        met: p99At1000 && Number.isFinite(p99At1000.median) ? p99At1000.median <= 100 : null,
      },
    ];
    return {
      group: "control-plane",
      title: controlPlaneGroup.title,
      figures,
      goals,
      tables: [
        {
          title: "Register (gRPC CreateApp) -> served by the real Envoy (first non-404 through the gateway)",
          columns: [
            "apps registered",
            "registrations",
            "p50 ms",
            "p99 ms",
            "xds-server RSS MiB",
            "xds-server CPU ms / registration",
            "Envoy RSS MiB",
            "registering the apps",
            "Envoy initial sync",
          ],
          rows,
        },
        {
          title:
            'With simulated ADS clients (Delta, subscribe "*" to CDS/EDS/LDS/RDS, ACK every response), 1,000+ apps',
          columns: [
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
          title: `Bytes pushed to one node for a one-app change (${opts.reps} changes, 1,000+ apps registered)`,
          columns: ["protocol", "bytes per change"],
          rows: [
            ["SotW", cell(figures["bytes_per_change.sotw"])],
            ["Delta", cell(figures["bytes_per_change.delta"])],
            ["SotW / Delta", cell(figures["bytes_per_change.sotw_over_delta"])],
            ...ADS_TYPES.map(shortType).flatMap((t) =>
              (["delta", "sotw"] as const).map((m) => [
                `${m === "delta" ? "Delta" : "SotW"}: ${t}`,
                cell(figures[`bytes_per_change.${m}.${t}`]),
              ]),
            ),
          ],
        },
      ],
      notes: [
        `xds-server: ${entry}, in-memory registry, a fresh process (and Envoy) per level: the apps are registered before any node connects, then Envoy connects and syncs them ("Envoy initial sync"), pinned with the load CPUs; Envoy: envoy/gateway-ads.yaml (Delta ADS), --concurrency 1.`,
        "register -> served: from sending CreateApp to the first answer other than 404 for the app's Host through the gateway (Envoy has the listener/route; jwt_authn then answers 401). Probes are sequential HTTP requests, so the figure includes one probe interval (~1 ms).",
        "Each app has its own host, a jwt rule with a remote JWKS (one shared loopback JWKS server) and one upstream.",
        "Percentiles of register -> served are over all registrations of a level (one sample per level, so min = median = max).",
        "Bytes per change count what the simulated clients subscribe to (CDS/EDS/LDS/RDS). The gateway's HTTP filter configs come by ECDS since the listener was made app-independent; ECDS is not counted here (at 1,000 apps a change also re-sends the wasm plugin configuration, ~145 KB; the listener and, for a known issuer/audience, jwt_authn are not re-sent).",
        ...notes,
      ],
    };
  },
};
