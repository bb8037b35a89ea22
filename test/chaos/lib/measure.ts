// From a scenario's timeline of answers to its figures: served / refused /
// errored per session class, and the time to recover.
import type { Rec, SessionClass } from "./load.js";

export interface ClassFigures {
  requests: number;
  /** The expected answer (200 for a session, 401 for anonymous API calls, 302 for a login start). */
  ok: number;
  /** 401 / 403 / 503 where the expected answer was something else: failing closed. */
  refused: number;
  /** No answer (connection error, timeout), a 5xx other than 503, or a 200 with the wrong identity. */
  errored: number;
  /** Answers by status ("0 ECONNRESET" for no answer), for the report. */
  statuses: Record<string, number>;
  /**
   * From the fault to the first expected answer after the class's last other
   * one (when the class was fully back); 0 when the fault never showed in this
   * class; null when it had not recovered when the load stopped.
   */
  recoveryMs: number | null;
  /** First to last answer that was not the expected one, after the fault. */
  degradedMs: number;
}

export function classFigures(records: Rec[], cls: SessionClass, faultAt: number): ClassFigures {
  const mine = records.filter((r) => r.cls === cls).sort((a, b) => a.t - b.t);
  const f: ClassFigures = {
    requests: mine.length,
    ok: 0,
    refused: 0,
    errored: 0,
    statuses: {},
    recoveryMs: 0,
    degradedMs: 0,
  };
  for (const r of mine) {
    f[r.outcome]++;
    const key = r.status === 0 ? `0 ${r.note ?? "no answer"}` : String(r.status);
    f.statuses[key] = (f.statuses[key] ?? 0) + 1;
  }
  const after = mine.filter((r) => r.t >= faultAt);
  const bad = after.filter((r) => r.outcome !== "ok");
  if (bad.length === 0) return f;
  const lastBad = bad[bad.length - 1].t;
  f.degradedMs = lastBad - bad[0].t;
  const back = after.find((r) => r.outcome === "ok" && r.t > lastBad);
  f.recoveryMs = back ? back.t - faultAt : null;
  return f;
}

/** Answers per second over the whole load window. */
export function rate(records: Rec[]): number {
  if (records.length < 2) return 0;
  const ts = records.map((r) => r.t);
  const span = (Math.max(...ts) - Math.min(...ts)) / 1000;
  return span > 0 ? records.length / span : 0;
}

export interface PhaseFigures {
  requests: number;
  perS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The longest the gateway held one request (from its connection to its answer). */
  maxServiceMs: number;
  refused: number;
  errored: number;
}

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : 0;

/** Latency and outcomes of the answers completed in [from, to). */
export function phaseFigures(records: Rec[], from: number, to: number): PhaseFigures {
  const mine = records.filter((r) => r.t >= from && r.t < to);
  const ms = mine.map((r) => r.ms).sort((a, b) => a - b);
  const span = (to - from) / 1000;
  return {
    requests: mine.length,
    perS: span > 0 ? mine.length / span : 0,
    p50Ms: pct(ms, 50),
    p99Ms: pct(ms, 99),
    maxMs: ms.length ? ms[ms.length - 1] : 0,
    maxServiceMs: mine.reduce((m, r) => Math.max(m, r.serviceMs), 0),
    refused: mine.filter((r) => r.outcome === "refused").length,
    errored: mine.filter((r) => r.outcome === "errored").length,
  };
}
