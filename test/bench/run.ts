// `npm run bench [-- --quick] [-- --only <group>]`: runs the benchmark groups
// in one process, one after the other, and writes test/bench/results/latest.{json,md,svg}.
// Exit codes: 0 all groups measured, 1 a group failed (results still written), 2 bad arguments.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { envoyBin, stopAll } from "../harness/index.js";
import { bffGroup } from "./groups/bff.js";
import { controlPlaneGroup } from "./groups/control-plane.js";
import { envoyGroup } from "./groups/envoy.js";
import { envoyMemoryGroup } from "./groups/envoy-memory.js";
import { wasmHostGroup } from "./groups/wasm-host.js";
import { machineInfo } from "./lib/machine.js";
import { cpuPlan, pin } from "./lib/pin.js";
import { load1, loadRecord, missingTools, NOISY_NOTE } from "./lib/preflight.js";
import { fmtS, Progress } from "./lib/progress.js";
import { type RunReport, writeReport } from "./lib/report.js";
import type { BenchContext, BenchGroup, BenchOptions, GroupResult } from "./lib/types.js";

const GROUPS: BenchGroup[] = [wasmHostGroup, envoyGroup, envoyMemoryGroup, bffGroup, controlPlaneGroup];
export const RESULTS_DIR = join(import.meta.dirname, "results");

const HELP = `Usage: npm run bench [-- options]

Benchmarks of sessiongate (commands, not timed tests). Writes
test/bench/results/latest.json, latest.md and latest.svg.

Options:
  --quick            short run (3 repetitions of 3 s; must finish in < 10 min on 2 cores)
  --only <group>     run only this group (repeatable): ${GROUPS.map((g) => g.name).join(", ")}
  --reps <n>         repetitions per measurement (default 5, quick 3)
  --duration <s>     seconds per wrk measurement (default 10, quick 3)
  --out <dir>        results directory (default test/bench/results)
  -h, --help         show this help

Progress (group, step, repetition, ETA) goes to stderr.
Exit codes: 0 every group measured, 1 a group failed (the others are still
reported), 2 bad arguments.
`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let values: {
    quick?: boolean;
    only?: string[];
    reps?: string;
    duration?: string;
    out?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean" },
        only: { type: "string", multiple: true },
        reps: { type: "string" },
        duration: { type: "string" },
        out: { type: "string" },
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
  const quick = Boolean(values.quick);
  const opts: BenchOptions = {
    quick,
    reps: Number(values.reps ?? (quick ? 3 : 5)),
    durationS: Number(values.duration ?? (quick ? 3 : 10)),
  };
  if (!Number.isInteger(opts.reps) || opts.reps < 1 || opts.reps > 50) {
    process.stderr.write("--reps must be an integer in [1, 50]\n");
    return 2;
  }
  if (!Number.isInteger(opts.durationS) || opts.durationS < 1 || opts.durationS > 120) {
    process.stderr.write("--duration must be an integer number of seconds in [1, 120]\n");
    return 2;
  }
  const only = values.only ?? [];
  const unknown = only.filter((o) => !GROUPS.some((g) => g.name === o));
  if (unknown.length) {
    process.stderr.write(
      `unknown group(s): ${unknown.join(", ")}; known: ${GROUPS.map((g) => g.name).join(", ")}\n`,
    );
    return 2;
  }
  const selected = only.length ? GROUPS.filter((g) => only.includes(g.name)) : GROUPS;
  const missing = missingTools(selected.flatMap((g) => g.tools));
  if (missing.length) {
    process.stderr.write(`bench: cannot start, missing:\n${missing.map((m) => `  - ${m}`).join("\n")}\n`);
    return 1;
  }
  const cpus = cpuPlan();
  // This process (the OP, the token fixture) and everything it spawns start on
  // the load CPUs; Envoy is moved to its own CPU after it starts.
  pin(process.pid, cpus.load);
  const progress = new Progress(selected.map((g) => ({ name: g.name, estimateS: g.estimateS(opts) })));
  const ctx: BenchContext = { opts, cpus, progress, log: (m) => progress.log(m), shared: new Map() };
  const machine = machineInfo(envoyBin(), argv);
  const total = selected.reduce((s, g) => s + g.estimateS(opts), 0);
  ctx.log(
    `bench: ${selected.map((g) => g.name).join(", ")}; ${opts.reps} reps x ${opts.durationS} s; estimated ${fmtS(total)}`,
  );
  const started = Date.now();
  const results: GroupResult[] = [];
  let failed = 0;
  for (const g of selected) {
    progress.startGroup(g.name);
    const t0 = Date.now();
    const before = load1();
    try {
      const r = await g.run(ctx);
      r.durationS = (Date.now() - t0) / 1000;
      r.load = loadRecord(before, load1());
      if (r.load.noisy)
        r.notes.push(
          `Noisy: load average ${r.load.before} before, ${r.load.after} after (${r.load.cores} cores). ${NOISY_NOTE}`,
        );
      results.push(r);
      ctx.log(
        `bench: ${g.name} done in ${fmtS(r.durationS)}, load average ${r.load.before} -> ${r.load.after}${r.load.noisy ? " (NOISY)" : ""}${r.skipped ? ` (skipped: ${r.skipped})` : ""}`,
      );
    } catch (err) {
      failed++;
      const msg = (err as Error).stack ?? String(err);
      ctx.log(`bench: ${g.name} FAILED: ${msg}`);
      results.push({
        group: g.name,
        title: g.title,
        notes: [],
        figures: {},
        tables: [],
        goals: [],
        skipped: `failed: ${(err as Error).message.split("\n")[0]}`,
        durationS: (Date.now() - t0) / 1000,
        load: loadRecord(before, load1()),
      });
    }
  }
  progress.done();
  await stopAll(failed > 0);
  const report: RunReport = {
    schema: "sessiongate-bench/1",
    machine,
    options: { ...opts, only },
    durationS: (Date.now() - started) / 1000,
    groups: results,
  };
  const files = writeReport(values.out ?? RESULTS_DIR, report);
  ctx.log(`bench: wrote ${files.join(", ")} in ${fmtS(report.durationS)}`);
  for (const g of results.flatMap((r) => r.goals)) {
    ctx.log(
      `  goal ${g.name} ${g.target}: ${g.measured} -> ${g.met === null ? "n/a" : g.met ? "met" : "MISSED"}`,
    );
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`bench: fatal: ${(err as Error).stack ?? err}\n`);
    await stopAll(true);
    process.exit(1);
  },
);
