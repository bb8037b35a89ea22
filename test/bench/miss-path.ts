// `npx tsx test/bench/miss-path.ts`: where a filter cache miss's CPU goes, against
// oauth2-proxy as ext_authz (issue 21, the (d)/(e) goal), without the whole
// `npm run bench`. One stack (Redis, the harness OP, a session logged in), one or
// more BFF builds (each its own process and its own side-by-side Envoy, since the
// Envoy's BFF cluster names one port), oauth2-proxy; the (d) listener of every
// build and (e) are loaded in turn within every repetition (wrk, 32 connections),
// and the CPU µs per request of Envoy, the helper and Redis are read from /proc.
// Also per variant: Redis commands per request (INFO commandstats) and Envoy's
// connections to the BFF per request (cluster upstream_cx_total / upstream_rq_total).
// Exit codes: 0 measured, 1 a run failed, 2 bad arguments.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import {
  freePort,
  LOG_DIR,
  type ManagedProcess,
  REPO_ROOT,
  startProcess,
  stopAll,
} from "../harness/index.js";
import { type BenchEnvoy, LUA_FALLBACK, startBenchEnvoy } from "./lib/envoy.js";
import { loginOauth2Proxy, peerVars, startOauth2Proxy } from "./lib/peers.js";
import { startPerf } from "./lib/perf.js";
import { cpuPlan, cpuSeconds, pin } from "./lib/pin.js";
import { load1 } from "./lib/preflight.js";
import { Progress } from "./lib/progress.js";
import { COOKIE, getStack, redisPid } from "./lib/stack.js";
import { cell, ratio, summarize } from "./lib/stats.js";
import { runWrk } from "./lib/wrk.js";

const HELP = `Usage: npx tsx test/bench/miss-path.ts [options]

CPU µs per request (Envoy, helper, Redis, total) of a filter cache miss (the
(d) listener of envoy/bench-side-by-side.yaml: one BFF call per request)
for each BFF build given, and of (e) oauth2-proxy as ext_authz, interleaved.

Options:
  --bff <label>=<main.js>   a BFF build to measure (repeatable; default
                            now=build/dist/bff/main.js)
  --envoy-yaml <label>=<f>  the side-by-side yaml for that label's Envoy
                            (default envoy/bench-side-by-side.yaml)
  --bff-config <json>       merged into every BFF's config (e.g. '{"log_level":"info"}')
  --cpu-prof <dir>          run the BFFs with node --cpu-prof into <dir>
  --perf <dir>              perf record -g Envoy and the helper during the last
                            repetition of each variant; prints CPU by shared object
  --reps <n>                repetitions (default 3)
  --duration <s>            seconds per measurement (default 5)
  -h, --help                show this help

Exit codes: 0 measured, 1 a run failed, 2 bad arguments.
`;

function parse() {
  const { values } = parseArgs({
    options: {
      bff: { type: "string", multiple: true },
      "envoy-yaml": { type: "string", multiple: true },
      "bff-config": { type: "string" },
      "cpu-prof": { type: "string" },
      perf: { type: "string" },
      reps: { type: "string", default: "3" },
      duration: { type: "string", default: "5" },
      help: { type: "boolean", short: "h" },
    },
  });
  const pairs = (xs: string[] | undefined) =>
    (xs ?? []).map((x) => {
      const i = x.indexOf("=");
      if (i <= 0) throw new Error(`expected <label>=<path>, got ${x}`);
      return [x.slice(0, i), x.slice(i + 1)] as const;
    });
  const bffs = pairs(values.bff);
  return {
    help: values.help,
    bffs: bffs.length ? bffs : ([["now", join(REPO_ROOT, "build", "dist", "bff", "main.js")]] as const),
    yamls: new Map(pairs(values["envoy-yaml"])),
    extra: values["bff-config"] ? (JSON.parse(values["bff-config"]) as Record<string, unknown>) : {},
    cpuProf: values["cpu-prof"],
    perfDir: values.perf,
    reps: Number(values.reps),
    durationS: Number(values.duration),
  };
}

function commandCalls(info: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of info.split("\n")) {
    const r = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (r) m.set(r[1], Number(r[2]));
  }
  return m;
}

/** System (kernel) CPU seconds of a process so far. */
function sysSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12]) / 100;
}

async function main(): Promise<number> {
  let o: ReturnType<typeof parse>;
  try {
    o = parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${HELP}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const cpus = cpuPlan();
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const ctx = {
    opts: { quick: false, reps: o.reps, durationS: o.durationS },
    cpus,
    progress: new Progress([{ name: "miss", estimateS: 60 }]),
    log,
    shared: new Map<string, unknown>(),
  };
  const loadBefore = load1();
  const st = await getStack(ctx);
  const baseConfig = JSON.parse(readFileSync(join(LOG_DIR, `bench-bff-${process.pid}.json`), "utf8"));
  const o2p = await startOauth2Proxy(st);
  pin(o2p.pid, cpus.load);
  const o2pCookie = await loginOauth2Proxy(st, st.op);
  const peers = await peerVars(st);
  const lua = readFileSync(LUA_FALLBACK, "utf8");
  const variants: { label: string; bff: ManagedProcess; be: BenchEnvoy }[] = [];
  for (const [label, entry] of o.bffs) {
    const [pub, internal] = [await freePort(), await freePort()];
    const config = {
      ...baseConfig,
      ...o.extra,
      public: { listen: `127.0.0.1:${pub}` },
      internal: { listen: `127.0.0.1:${internal}` },
    };
    const file = join(LOG_DIR, `miss-bff-${label}-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(config));
    const prof = o.cpuProf
      ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProf, "--cpu-prof-name", `${label}.cpuprofile`]
      : [];
    const bff = await startProcess({
      name: `miss-bff-${label}`,
      cmd: process.execPath,
      args: [...prof, entry, "--config", file],
      cwd: REPO_ROOT,
      // For a stand-in helper (e.g. a bare node:http floor) that must answer with a token jwt_authn accepts.
      env: { SG_BENCH_ACCESS_TOKEN: st.accessToken },
      // A stand-in that speaks h2c only cannot answer an HTTP/1.1 probe: its port then.
      ready: o.yamls.has(label) ? { port: internal } : { url: `http://127.0.0.1:${internal}/readyz` },
      readyTimeoutMs: 30_000,
    });
    pin(bff.pid, cpus.load);
    const be = await startBenchEnvoy({
      bffPort: internal,
      issuer: st.op.issuer,
      audience: st.op.audience,
      jwks: st.jwks,
      lua,
      cpus: cpus.envoy,
      name: `miss-envoy-${label}`,
      file: o.yamls.get(label),
      peers,
    });
    variants.push({ label, bff, be });
  }
  // (e) runs on the first Envoy: its ext_authz listener.
  const eEnvoy = variants[0].be;
  const rPid = redisPid(st.redis);
  const redis = new Redis(st.redis.url);
  const runs: {
    key: string;
    url: string;
    headers: Record<string, string>;
    helper: number;
    envoy: BenchEnvoy;
    cluster: string;
  }[] = [
    ...variants.map((v) => ({
      key: `d:${v.label}`,
      url: `http://127.0.0.1:${v.be.ports.d}/`,
      headers: { cookie: `${COOKIE}=${st.session}` },
      helper: v.bff.pid,
      envoy: v.be,
      cluster: "sessiongate_bff_internal",
    })),
    {
      key: "e",
      url: `http://127.0.0.1:${eEnvoy.ports.e}/`,
      headers: { cookie: o2pCookie },
      helper: o2p.pid,
      envoy: eEnvoy,
      cluster: "oauth2_proxy",
    },
  ];
  for (const r of runs) {
    const res = await fetch(r.url, { headers: r.headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${r.key} answered ${res.status}`);
    await runWrk({ url: r.url, connections: 32, durationS: 1, headers: r.headers, cpus: cpus.load });
  }
  const us: Record<string, { envoy: number[]; helper: number[]; redis: number[]; total: number[] }> = {};
  const perReq: Record<string, { cmds: string; cx: number; rps: number; sysUs: number }> = {};
  const profiles: string[] = [];
  if (o.perfDir) mkdirSync(o.perfDir, { recursive: true });
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const r of runs) {
      log(`rep ${rep}/${o.reps}: ${r.key}`);
      const s0 = await r.envoy.envoy.stats();
      const c0 = commandCalls(await redis.info("commandstats"));
      const [e0, h0, r0] = [cpuSeconds(r.envoy.envoy.proc.pid), cpuSeconds(r.helper), cpuSeconds(rPid)];
      const sys0 = sysSeconds(r.helper);
      const perfs =
        o.perfDir && rep === o.reps
          ? [
              startPerf(
                r.envoy.envoy.proc.pid,
                o.durationS - 1,
                join(o.perfDir, `${r.key.replace(":", "-")}-envoy.data`),
                999,
              ),
              startPerf(
                r.helper,
                o.durationS - 1,
                join(o.perfDir, `${r.key.replace(":", "-")}-helper.data`),
                999,
              ),
            ]
          : [];
      const w = await runWrk({
        url: r.url,
        connections: 32,
        durationS: o.durationS,
        headers: r.headers,
        cpus: cpus.load,
      });
      const per = (s: number) => (s * 1e6) / w.requests;
      const [eu, hu, ru] = [
        per(cpuSeconds(r.envoy.envoy.proc.pid) - e0),
        per(cpuSeconds(r.helper) - h0),
        per(cpuSeconds(rPid) - r0),
      ];
      const c1 = commandCalls(await redis.info("commandstats"));
      const s1 = await r.envoy.envoy.stats();
      const d = (n: string) =>
        (s1.get(`cluster.${r.cluster}.${n}`) ?? 0) - (s0.get(`cluster.${r.cluster}.${n}`) ?? 0);
      const cmds = [...c1]
        .map(([k, v]) => [k, (v - (c0.get(k) ?? 0)) / w.requests] as const)
        .filter(([k, v]) => v > 0.01 && k !== "info")
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(", ");
      perReq[r.key] = {
        cmds,
        cx: d("upstream_cx_total") / Math.max(1, d("upstream_rq_total")),
        rps: w.rps,
        sysUs: per(sysSeconds(r.helper) - sys0),
      };
      if (perfs.length) {
        const [pe, ph] = await Promise.all(perfs);
        profiles.push(`### ${r.key}: Envoy\n\n${pe}\n### ${r.key}: helper\n\n${ph}`);
      }
      us[r.key] ??= { envoy: [], helper: [], redis: [], total: [] };
      us[r.key].envoy.push(eu);
      us[r.key].helper.push(hu);
      us[r.key].redis.push(ru);
      us[r.key].total.push(eu + hu + ru);
    }
  }
  const loadAfter = load1();
  const lines = [
    `load average (1 min): ${loadBefore} before, ${loadAfter} after; ${o.reps} reps x ${o.durationS} s, 32 connections`,
    "| variant | Envoy µs/req | helper µs/req | helper kernel µs/req (last rep) | Redis µs/req | total µs/req | ÷ (e) total | Redis commands/req | Envoy cx/rq to helper |",
    "|---|---:|---:|---:|---:|---:|---:|---|---:|",
  ];
  const eTotal = summarize(us.e.total, "µs");
  for (const r of runs) {
    const u = us[r.key];
    const t = summarize(u.total, "µs");
    lines.push(
      `| ${r.key} | ${cell(summarize(u.envoy, "µs"))} | ${cell(summarize(u.helper, "µs"))} | ${perReq[r.key].sysUs.toFixed(1)} | ${cell(summarize(u.redis, "µs"))} | ${cell(t)} | ${cell(ratio(t, eTotal))} | ${perReq[r.key].cmds} | ${perReq[r.key].cx.toFixed(4)} |`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  if (profiles.length) process.stdout.write(`\n## perf: CPU by shared object\n\n${profiles.join("\n")}\n`);
  redis.disconnect();
  for (const v of variants) {
    await v.be.envoy.stop();
    await v.bff.stop();
  }
  await o2p.stop();
  return 0;
}

main()
  .then(async (code) => {
    await stopAll(false);
    process.exit(code);
  })
  .catch(async (err) => {
    process.stderr.write(`miss-path: ${(err as Error).stack ?? err}\n`);
    await stopAll(false);
    process.exit(1);
  });
