// Runs one fault scenario against the stack under steady load and checks what
// must hold whatever the fault: no request upstream without a valid token, no
// identity mix-up, no session lost, no registration lost, and recovery.
import type { Goal } from "../../bench/lib/types.js";
import { waitFor } from "../../harness/index.js";
import { startLoad } from "./load.js";
import { type ClassFigures, classFigures, rate } from "./measure.js";
import { type Stack, sessionWorks } from "./stack.js";
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
}

export interface Scenario {
  name: string;
  title: string;
  /** What is done, for the report. */
  what: string;
  /** Connection errors are part of this fault (a cold Envoy restart): not a goal. */
  errorsExpected?: boolean;
  inQuick: boolean;
  fault(stack: Stack, t: Timing, log: (m: string) => void): Promise<FaultOutcome>;
}

export interface ScenarioResult {
  name: string;
  title: string;
  what: string;
  durationS: number;
  /** Fault → component back (ms). */
  downMs: number;
  requestsPerS: number;
  classes: { session: ClassFigures; anon: ClassFigures };
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
): Promise<ScenarioResult> {
  const started = Date.now();
  const before = await stack.registry();
  const up0 = { ...stack.upstream.counts, byReason: { ...stack.upstream.counts.byReason } };
  const samples0 = stack.upstream.samples.length;
  const load = startLoad({
    port: stack.envoy.port,
    sessions: stack.sessions,
    workers: t.workers,
    intervalMs: t.intervalMs,
  });
  log(`  ${sc.name}: ${t.baselineS} s of load before the fault`);
  await sleep(t.baselineS * 1000);
  log(`  ${sc.name}: fault — ${sc.what}`);
  const fo = await sc.fault(stack, t, log);
  log(
    `  ${sc.name}: back after ${((fo.backAt - fo.faultAt) / 1000).toFixed(1)} s; ${t.postS} s of load after`,
  );
  await sleep(Math.max(0, fo.backAt + t.postS * 1000 - Date.now()));
  const records = await load.stop();
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
    name: sc.name,
    title: sc.title,
    what: sc.what,
    durationS: (Date.now() - started) / 1000,
    downMs: fo.backAt - fo.faultAt,
    requestsPerS: rate(records),
    classes,
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
