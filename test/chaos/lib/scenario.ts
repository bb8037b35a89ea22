// Runs one fault scenario against the stack under steady load and checks what
// must hold whatever the fault: no request upstream without a valid token, no
// identity mix-up, no session lost, no registration lost, and recovery.
import type { Goal } from "../../bench/lib/types.js";
import { waitFor } from "../../harness/index.js";
import { startLoad, startOpenLoad } from "./load.js";
import { type ClassFigures, classFigures, type PhaseFigures, phaseFigures, rate } from "./measure.js";
import { callCounts, type Stack, sessionWorks } from "./stack.js";
import type { UpstreamCounts, Violation } from "./upstream.js";

export interface Timing {
  /** Load before the fault. */
  baselineS: number;
  /** How long the faulty component stays down. */
  holdS: number;
  /** The OP outage: long enough for every session's access token to come due. */
  opHoldS: number;
  /** Load after the component is back. */
  postS: number;
  /** After the load stops: how long each session gets to work again before it counts as lost. */
  recoverDeadlineS: number;
  workers: number;
  intervalMs: number;
}

export interface FaultOutcome {
  /** When the fault was injected (Date.now()). */
  faultAt: number;
  /** When the component was back (restarted and ready). */
  backAt: number;
  figures?: Record<string, number | string | null>;
  notes?: string[];
  /** Goals of the fault itself (what a scenario with its own load measured), added to the common ones. */
  goals?: Goal[];
}

export interface Scenario {
  name: string;
  title: string;
  /** What is done, for the report. */
  what: string;
  /** Connection errors are part of this fault (a cold Envoy restart): not a goal. */
  errorsExpected?: boolean;
  /**
   * A slow (not dead) part: no answer may take longer than this (ms) — the
   * filter's BFF timeout plus slack — and recovery must not be a herd.
   */
  maxLatencyMs?: number;
  /** Runs on a stack whose Redis is a master + replica behind Sentinel. */
  sentinel?: boolean;
  /** Runs on a stack whose Redis is a Cluster (3 masters + 3 replicas). */
  cluster?: boolean;
  inQuick: boolean;
  fault(stack: Stack, t: Timing, log: (m: string) => void): Promise<FaultOutcome>;
}

/** At capacity: open-loop arrivals at `perS` (a share of the throughput measured just before). */
export interface CapacityLoad {
  perS: number;
  /** The measured throughput it is a share of. */
  measuredPerS: number;
  /** Latency of the throughput probe (closed loop, as fast as answers come). */
  measuredP50Ms: number;
  measuredP99Ms: number;
  connections: number;
  /** 1-minute load average when it was measured: the machine is shared. */
  loadAvg1m: number;
}

export interface ScenarioResult {
  /** The scenario's name, with "@capacity" for its run at capacity. */
  name: string;
  /** Paced closed loop (the low-rate run) or open loop at a share of capacity. */
  load:
    | { mode: "paced"; workers: number; intervalMs: number }
    | ({ mode: "open"; notSent: number } & CapacityLoad);
  title: string;
  what: string;
  durationS: number;
  /** Fault → component back (ms). */
  downMs: number;
  requestsPerS: number;
  classes: { session: ClassFigures; anon: ClassFigures };
  /** Latency and outcomes before the fault, while it lasts, and after the part is back. */
  phases: { baseline: PhaseFigures; fault: PhaseFigures; after: PhaseFigures };
  /** Filter → BFF calls and BFF refresh attempts per second before the fault and right after it. */
  recovery: {
    windowS: number;
    bffCallsPerSBefore: number;
    bffCallsPerSAfter: number;
    refreshesAfter: number;
    refreshesAllowed: number;
  };
  upstream: UpstreamCounts;
  violationSamples: Violation[];
  wrongIdentity: number;
  cookieCleared: number;
  sessions: { total: number; lost: number[] };
  /** The registry rows (id, revision, spec) before and after, kept only when they differ. */
  registry: { apps: number; ids: string[]; identical: boolean; before?: string[]; after?: string[] };
  figures: Record<string, number | string | null>;
  notes: string[];
  goals: Goal[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every session works (polled, in parallel); returns the ones that did not within `ms`. */
export async function brokenSessions(stack: Stack, ms: number): Promise<number[]> {
  const results = await Promise.all(
    stack.sessions.map((s) =>
      waitFor(`session ${s.index}`, async () => sessionWorks(stack, s), ms, 250).then(
        () => -1,
        () => s.index,
      ),
    ),
  );
  return results.filter((i) => i >= 0);
}

function diffUpstream(a: UpstreamCounts, b: UpstreamCounts): UpstreamCounts {
  const byReason: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.byReason))
    if (v - (a.byReason[k] ?? 0)) byReason[k] = v - (a.byReason[k] ?? 0);
  return {
    received: b.received - a.received,
    verified: b.verified - a.verified,
    violations: b.violations - a.violations,
    byReason,
  };
}

export async function runScenario(
  stack: Stack,
  sc: Scenario,
  t: Timing,
  log: (m: string) => void,
  capacity?: CapacityLoad,
): Promise<ScenarioResult> {
  const name = capacity ? `${sc.name}@capacity` : sc.name;
  const started = Date.now();
  const before = await stack.registry();
  const up0 = { ...stack.upstream.counts, byReason: { ...stack.upstream.counts.byReason } };
  const samples0 = stack.upstream.samples.length;
  const c0 = await callCounts(stack);
  const loadAt = Date.now();
  const load = capacity
    ? startOpenLoad({
        port: stack.envoy.port,
        sessions: stack.sessions,
        ratePerS: capacity.perS,
        connections: capacity.connections,
      })
    : startLoad({
        port: stack.envoy.port,
        sessions: stack.sessions,
        workers: t.workers,
        intervalMs: t.intervalMs,
      });
  log(`  ${name}: ${t.baselineS} s of load before the fault`);
  await sleep(t.baselineS * 1000);
  const cF = await callCounts(stack);
  const beforeS = (Date.now() - loadAt) / 1000;
  log(`  ${name}: fault — ${sc.what}`);
  const fo = await sc.fault(stack, t, log);
  const cB = await callCounts(stack);
  log(`  ${name}: back after ${((fo.backAt - fo.faultAt) / 1000).toFixed(1)} s; ${t.postS} s of load after`);
  // Right after recovery every cached token has expired: count what the filter and the BFF do then.
  const windowS = Math.min(t.postS, 2 * stack.opts.cacheMaxTtlS);
  const windowFrom = Date.now();
  await sleep(windowS * 1000);
  const cW = await callCounts(stack);
  const windowMeasuredS = (Date.now() - windowFrom) / 1000;
  await sleep(Math.max(0, fo.backAt + t.postS * 1000 - Date.now()));
  const records = await load.stop();
  const endAt = Date.now();
  const cE = await callCounts(stack);
  const refreshPeriodS = Math.max(1, stack.opts.tokenTtlS - stack.opts.refreshSkewS);
  const recovery = {
    windowS: windowMeasuredS,
    // A restarted replica counts from 0 again: never below 0 (NaN stays NaN: unknown).
    bffCallsPerSBefore: Math.max(0, cF.bffCalls - c0.bffCalls) / beforeS,
    bffCallsPerSAfter: Math.max(0, cW.bffCalls - cB.bffCalls) / windowMeasuredS,
    refreshesAfter: Math.max(0, cE.refreshes - cB.refreshes),
    // Steady state (one refresh per session per period) plus one catch-up each.
    refreshesAllowed: Math.ceil(stack.sessions.length * ((endAt - fo.backAt) / 1000 / refreshPeriodS + 1)),
  };
  const phases = {
    baseline: phaseFigures(records, loadAt, fo.faultAt),
    fault: phaseFigures(records, fo.faultAt, fo.backAt),
    after: phaseFigures(records, fo.backAt, endAt + 1),
  };
  const lostNow = await brokenSessions(stack, t.recoverDeadlineS * 1000);
  // A session whose cookie the gateway cleared is gone for a browser, even if the id still works.
  const cleared = new Set(records.filter((r) => r.note === "cookie cleared").map((r) => r.sess));
  const lost = [...new Set([...lostNow, ...cleared])].sort((a, b) => a - b);
  const after = await waitFor(
    "the registry to answer",
    () => stack.registry().catch(() => undefined),
    20_000,
    250,
  );
  const identical = JSON.stringify(before) === JSON.stringify(after);
  const upstream = diffUpstream(up0, stack.upstream.counts);
  const classes = {
    session: classFigures(records, "session", fo.faultAt),
    anon: classFigures(records, "anon", fo.faultAt),
  };
  const wrongIdentity = records.filter((r) => r.note === "wrong identity").length;
  const goals: Goal[] = [
    {
      name: "requests upstream without a valid token",
      target: "0",
      measured: `${upstream.violations} of ${upstream.received}`,
      met: upstream.violations === 0,
    },
    {
      name: "answers with another user's identity",
      target: "0",
      measured: String(wrongIdentity),
      met: wrongIdentity === 0,
    },
    {
      name: "sessions lost",
      target: "0",
      measured: `${lost.length} of ${stack.sessions.length}`,
      met: lost.length === 0,
    },
    {
      name: "registrations lost (registry identical)",
      target: "0",
      measured: identical
        ? `0 (${after.length} apps)`
        : `registry differs (${before.length} -> ${after.length} apps)`,
      met: identical,
    },
    {
      name: "every class recovered under load",
      target: "yes",
      measured: classes.session.recoveryMs === null || classes.anon.recoveryMs === null ? "no" : "yes",
      met: classes.session.recoveryMs !== null && classes.anon.recoveryMs !== null,
    },
  ];
  if (sc.maxLatencyMs !== undefined) {
    const held = Math.round(Math.max(phases.fault.maxServiceMs, phases.after.maxServiceMs));
    goals.push(
      {
        name: "no request held: longest the gateway held one request, during and after the fault",
        target: `<= ${sc.maxLatencyMs} ms`,
        measured: `${held} ms`,
        met: held <= sc.maxLatencyMs,
      },
      {
        name: "no herd on recovery: filter → BFF calls/s right after vs before",
        target: "<= 3x",
        // NaN: a BFF's /metrics did not answer, so the count is unknown (not met).
        measured: `${recovery.bffCallsPerSAfter.toFixed(1)} vs ${recovery.bffCallsPerSBefore.toFixed(1)}`,
        met: recovery.bffCallsPerSAfter <= 3 * Math.max(1, recovery.bffCallsPerSBefore),
      },
      {
        name: "no herd on recovery: refresh attempts after the fault",
        target: `<= ${recovery.refreshesAllowed} (one per session per refresh period, plus one)`,
        measured: String(recovery.refreshesAfter),
        met: recovery.refreshesAfter <= recovery.refreshesAllowed,
      },
    );
  }
  goals.push(...(fo.goals ?? []));
  if (!sc.errorsExpected) {
    const errored = classes.session.errored + classes.anon.errored;
    goals.push({
      name: "errored answers (only 401/403/503 while failing)",
      target: "0",
      measured: String(errored),
      met: errored === 0,
    });
  }
  return {
    name,
    load: capacity
      ? { mode: "open", notSent: load.notSent, ...capacity }
      : { mode: "paced", workers: t.workers, intervalMs: t.intervalMs },
    title: sc.title,
    what: sc.what,
    durationS: (Date.now() - started) / 1000,
    downMs: fo.backAt - fo.faultAt,
    requestsPerS: rate(records),
    classes,
    phases,
    recovery,
    upstream,
    violationSamples: stack.upstream.samples.slice(samples0),
    wrongIdentity,
    cookieCleared: cleared.size,
    sessions: { total: stack.sessions.length, lost },
    registry: {
      apps: after.length,
      ids: after.map((row) => String((JSON.parse(row) as unknown[])[0])),
      identical,
      ...(identical ? {} : { before, after }),
    },
    figures: fo.figures ?? {},
    notes: fo.notes ?? [],
    goals,
  };
}
