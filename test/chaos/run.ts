// `npm run chaos [-- --quick] [-- --only <scenario>]`: fault scenarios under
// steady load against the real stack, then test/bench/results/chaos.{json,md}.
// Exit codes: 0 every scenario met its goals, 1 one missed (or could not run),
// 2 bad arguments, 3 a dependency (Envoy, Redis, the built filter) is missing.
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { machineInfo } from "../bench/lib/machine.js";
import { fmtS } from "../bench/lib/progress.js";
import type { Goal } from "../bench/lib/types.js";
import { envoyBin, redisBin, stopAll, WASM_PATH } from "../harness/index.js";
import { type BadInputResult, runBadInput } from "./lib/badinput.js";
import { measureThroughput } from "./lib/load.js";
import { nodeEntry } from "./lib/procs.js";
import { type ChaosReport, writeReport } from "./lib/report.js";
import {
  brokenSessions,
  type CapacityLoad,
  runScenario,
  type Scenario,
  type ScenarioResult,
  type Timing,
} from "./lib/scenario.js";
import { SCENARIOS } from "./lib/scenarios.js";
import { stackOptions, TIMING } from "./lib/settings.js";
import { FILLER_APPS, type Stack, startStack } from "./lib/stack.js";

export const RESULTS_DIR = join(import.meta.dirname, "..", "bench", "results");
/** Keep-alive connections of the throughput probe and of the open-loop load at capacity. */
const CAPACITY_CONNECTIONS = 32;
/** SESSIONGATE_KEEP_LOGS=1: keep the processes' logs (test/.logs) to read why a goal was missed. */
const KEEP_LOGS = process.env.SESSIONGATE_KEEP_LOGS === "1";
const NAMES = [...SCENARIOS.map((s) => s.name), "badinput"];

const HELP = `Usage: npm run chaos [-- options]

Fault scenarios under steady load through a real Envoy (ADS from two
xds-server replicas), two BFF processes, Redis with persistence and an OIDC
provider, all on 127.0.0.1. Each scenario kills or pauses one part, brings it
back, and checks: no request reaches the upstream without a valid JWT (the
upstream verifies every one), no session lost, no registration lost, and how
long until each class of request (logged-in, anonymous) was served again.
Then the bad-input campaigns of test/badinput/campaigns.ts, when it exists.
Writes test/bench/results/chaos.json and chaos.md.

Scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}

Options:
  --quick            short run (shorter phases, 4 sessions, no cold Envoy restart,
                     1,000 registration calls and 100,000 header sets; ~10 minutes with --rate both)
  --only <name>      run only this scenario (repeatable); "badinput" for the campaigns
  --rate <which>     low (paced, 4 connections x 50/s), capacity (open loop at
                     --share of the throughput measured just before), or both
                     (default: both, each scenario at low rate, then at capacity)
  --share <0..1>     share of the measured throughput for the capacity run (default 0.7)
  --out <dir>        results directory (default test/bench/results)
  -h, --help         show this help

Progress goes to stderr. Exit codes: 0 every goal met, 1 a goal missed or a
scenario could not run, 2 bad arguments, 3 a dependency is missing (Envoy,
redis-server, build/session-to-token.wasm).
`;

function missingDependency(): string | null {
  try {
    envoyBin();
    redisBin();
  } catch (err) {
    return (err as Error).message;
  }
  if (!existsSync(WASM_PATH)) return `${WASM_PATH} not built: run npm run build (npm run chaos does)`;
  return null;
}

const estimateS = (s: Scenario, t: Timing) =>
  t.baselineS + (s.name.startsWith("op-") || s.name === "jwks-rotation" ? t.opHoldS : t.holdS) + t.postS + 6;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let values: {
    quick?: boolean;
    only?: string[];
    out?: string;
    help?: boolean;
    rate?: string;
    share?: string;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean" },
        only: { type: "string", multiple: true },
        out: { type: "string" },
        rate: { type: "string" },
        share: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const only = values.only ?? [];
  const unknown = only.filter((o) => !NAMES.includes(o));
  if (unknown.length) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(", ")}; known: ${NAMES.join(", ")}\n`);
    return 2;
  }
  const rates = values.rate ?? "both";
  const share = Number(values.share ?? "0.7");
  if (!["low", "capacity", "both"].includes(rates) || !(share > 0 && share <= 1)) {
    process.stderr.write(`--rate is low, capacity or both; --share a number in (0, 1]\n\n${HELP}`);
    return 2;
  }
  const runs = { low: rates !== "capacity", capacity: rates !== "low" };
  const missing = missingDependency();
  if (missing) {
    process.stderr.write(`chaos: missing dependency: ${missing}\n`);
    return 3;
  }
  const quick = Boolean(values.quick);
  const timing = TIMING[quick ? "quick" : "full"];
  const selected = SCENARIOS.filter((s) => (only.length ? only.includes(s.name) : !quick || s.inQuick));
  const withBadInput = only.length === 0 || only.includes("badinput");
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const started = Date.now();
  const machine = {
    ...machineInfo(envoyBin(), argv),
    command: ["npm run chaos", ...(argv.length ? ["--", ...argv] : [])].join(" "),
  };
  const perScenario = (s: Scenario) =>
    (runs.low ? estimateS(s, timing) : 0) + (runs.capacity ? estimateS(s, timing) + 5 : 0);
  let left = selected.reduce((n, s) => n + perScenario(s), 15);
  log(
    `chaos: ${selected.map((s) => s.name).join(", ")}${withBadInput ? " + badinput" : ""}; estimated ${fmtS(left)} plus the campaigns`,
  );

  const results: ScenarioResult[] = [];
  const failures: { name: string; error: string }[] = [];
  let stack: Stack | undefined;
  const rebuilds: string[] = [];
  type Topology = "single" | "sentinel" | "cluster";
  const topologyOf = (s: Stack): Topology => (s.sentinel ? "sentinel" : s.cluster ? "cluster" : "single");
  const fresh = async (why: string, topology: Topology = "single") => {
    if (stack) {
      log(`chaos: rebuilding the stack (${why})`);
      rebuilds.push(why);
      await stopAll(false);
    }
    stack = await startStack({
      ...stackOptions(quick, log),
      sentinel: topology === "sentinel",
      cluster: topology === "cluster",
    });
  };
  for (const [i, sc] of selected.entries()) {
    const elapsed = (Date.now() - started) / 1000;
    log(
      `chaos [${i + 1}/${selected.length}] ${sc.name}: ${sc.title} — ${fmtS(elapsed)} elapsed, ETA ${fmtS(left)}`,
    );
    left -= perScenario(sc);
    for (const atCapacity of [false, true]) {
      if (!(atCapacity ? runs.capacity : runs.low)) continue;
      const name = atCapacity ? `${sc.name}@capacity` : sc.name;
      try {
        const topology: Topology = sc.sentinel ? "sentinel" : sc.cluster ? "cluster" : "single";
        if (!stack) await fresh("first scenario", topology);
        else if (topology !== "single" || topologyOf(stack) !== topology)
          // A failover leaves the old master dead: every run of it starts on a fresh set.
          await fresh(
            topology === "single" ? "back to a single Redis" : `${name} needs Redis as ${topology}`,
            topology,
          );
        else {
          const broken = await brokenSessions(stack, 10_000);
          if (broken.length)
            await fresh(`sessions ${broken.join(", ")} did not work before ${name}`, topology);
        }
        let capacity: CapacityLoad | undefined;
        if (atCapacity) {
          const m = await measureThroughput({
            port: stack!.envoy.port,
            sessions: stack!.sessions,
            connections: CAPACITY_CONNECTIONS,
            seconds: quick ? 3 : 5,
          });
          capacity = {
            perS: Math.max(1, Math.round(m.perS * share)),
            measuredPerS: m.perS,
            measuredP50Ms: m.p50Ms,
            measuredP99Ms: m.p99Ms,
            connections: CAPACITY_CONNECTIONS,
            loadAvg1m: loadavg()[0],
          };
          log(
            `  ${name}: throughput ${Math.round(m.perS)}/s (p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, load average ${loadavg()[0].toFixed(1)}); open loop at ${capacity.perS}/s`,
          );
          // Let the sessions' cache entries and the BFFs settle before the scenario's baseline.
          if ((await brokenSessions(stack!, 10_000)).length)
            await fresh(`sessions broken by the throughput probe`, topology);
        }
        const r = await runScenario(stack!, sc, timing, log, capacity);
        results.push(r);
        const missed = r.goals.filter((g) => !g.met);
        log(
          `chaos: ${name} done: sessions ${r.classes.session.ok}/${r.classes.session.refused}/${r.classes.session.errored} (served/refused/errored), ` +
            `upstream violations ${r.upstream.violations}, lost sessions ${r.sessions.lost.length}, registry ${r.registry.identical ? "identical" : "DIFFERS"}` +
            (missed.length ? ` — MISSED: ${missed.map((g) => g.name).join("; ")}` : " — all goals met"),
        );
      } catch (err) {
        const error = (err as Error).message.split("\n")[0];
        log(`chaos: ${name} FAILED: ${(err as Error).stack ?? error}`);
        failures.push({ name, error });
        stack = undefined;
        await stopAll(true);
      }
    }
  }
  await stopAll(KEEP_LOGS);

  let badinput: BadInputResult | null = null;
  if (withBadInput) {
    log(`chaos: bad-input campaigns — ${fmtS((Date.now() - started) / 1000)} elapsed`);
    try {
      badinput = await runBadInput(quick, log);
    } catch (err) {
      failures.push({ name: "badinput", error: (err as Error).message.split("\n")[0] });
    }
    await stopAll(false);
  }

  const goals: Goal[] = [
    ...results.flatMap((r) => r.goals.map((g) => ({ ...g, name: `${r.name}: ${g.name}` }))),
    ...failures.map((f) => ({
      name: `${f.name}: completed`,
      target: "yes",
      measured: `failed: ${f.error}`,
      met: false,
    })),
    ...(badinput?.goals ?? []),
  ];
  const opts = stackOptions(quick, log);
  const report: ChaosReport = {
    schema: "sessiongate-chaos/1",
    machine,
    options: { quick, only, rate: rates, share },
    timing,
    stack: {
      Envoy: "1 process, --concurrency 1, ADS (Delta) to both xds-server replicas, hot restart enabled",
      "xds-server": `2 replicas (${nodeEntry("xds-server").label}), Redis registry, ${1 + FILLER_APPS} apps registered`,
      BFF: `2 processes (${nodeEntry("bff").label} --config) behind a TCP round-robin balancer`,
      Redis: "redis-server, appendonly yes, appendfsync always",
      OP: `the harness oidc-provider, access tokens ${opts.tokenTtlS} s, refresh-token rotation on`,
      "BFF refresh skew s": opts.refreshSkewS,
      "filter cache max_ttl_s": opts.cacheMaxTtlS,
      "logged-in sessions": opts.sessions,
    },
    durationS: (Date.now() - started) / 1000,
    scenarios: results,
    failures,
    rebuilds,
    badinput,
    goals,
  };
  const files = writeReport(values.out ?? RESULTS_DIR, report);
  const missed = goals.filter((g) => !g.met);
  log(
    `chaos: wrote ${files.join(", ")} in ${fmtS(report.durationS)}; ${goals.length - missed.length}/${goals.length} goals met`,
  );
  for (const g of missed) log(`  MISSED ${g.name}: ${g.measured} (target ${g.target})`);
  return missed.length ? 1 : 0;
}

// Ctrl-C: stop every process this run started (and remove its files) before leaving.
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    process.stderr.write(`chaos: ${sig}, stopping everything\n`);
    stopAll(false).finally(() => process.exit(130));
  });

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`chaos: fatal: ${(err as Error).stack ?? err}\n`);
    await stopAll(true);
    process.exit(1);
  },
);
