// The BFF's internal token endpoint (what the filter calls on a cache miss):
// requests/s and latency with Redis, one BFF process, one logged-in session.
import { COOKIE, getStack } from "../lib/stack.js";
import { cell, type Sample, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, BenchOptions, GroupResult } from "../lib/types.js";
import { runWrk, type WrkResult } from "../lib/wrk.js";

const LOADS = [
  { connections: 32, label: "32 connections" },
  { connections: 1, label: "1 connection" },
];

export const bffGroup: BenchGroup = {
  name: "bff",
  title: "BFF internal token endpoint (one BFF process, Redis)",
  estimateS: (o: BenchOptions) => 5 + LOADS.length * o.reps * o.durationS,
  tools: ["wrk", "taskset", "redis-server"],
  async run(ctx: BenchContext): Promise<GroupResult> {
    const { opts } = ctx;
    const st = await getStack(ctx);
    const url = `${st.bffInternalUrl}/internal/v1/session-token`;
    const headers = { "x-sessiongate-app": "bench", "x-sessiongate-session": st.session };
    await runWrk({ url, connections: 8, durationS: 1, headers, cpus: ctx.cpus.load });
    const runs: WrkResult[][] = LOADS.map(() => []);
    const steps = opts.reps * LOADS.length;
    let step = 0;
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const [i, l] of LOADS.entries()) {
        ctx.progress.update(`${l.label}, rep ${rep}/${opts.reps}`, step++ / steps);
        runs[i].push(
          await runWrk({
            url,
            connections: l.connections,
            durationS: opts.durationS,
            headers,
            cpus: ctx.cpus.load,
          }),
        );
      }
    }
    const figures: Record<string, Sample> = {};
    LOADS.forEach((l, i) => {
      const k = `c${l.connections}`;
      figures[`${k}.rps`] = summarize(
        runs[i].map((r) => r.rps),
        "req/s",
      );
      figures[`${k}.p50_ms`] = summarize(
        runs[i].map((r) => r.p50Ms),
        "ms",
      );
      figures[`${k}.p99_ms`] = summarize(
        runs[i].map((r) => r.p99Ms),
        "ms",
      );
    });
    return {
      group: "bff",
      title: bffGroup.title,
      figures,
      goals: [],
      tables: [
        {
          title: `GET /internal/v1/session-token (wrk, ${opts.durationS} s per repetition)`,
          columns: ["load", "requests/s", "p50 ms", "p99 ms"],
          rows: LOADS.map((l) => {
            const k = `c${l.connections}`;
            return [
              l.label,
              cell(figures[`${k}.rps`]),
              cell(figures[`${k}.p50_ms`]),
              cell(figures[`${k}.p99_ms`]),
            ];
          }),
        },
      ],
      notes: [
        `BFF: ${st.bffEntry}, one Node process, log level warn; Redis: redis-server on loopback, no persistence. Every request loads the session (GETEX, sliding idle timeout) and decrypts its tokens (AES-GCM); the access token is valid for an hour, so no refresh happens during the run.`,
        `wrk, the BFF and Redis share CPU ${ctx.cpus.load || "(unpinned)"}; the cookie ${COOKIE} is not involved (the filter sends the session id in x-sessiongate-session).`,
      ],
    };
  },
};
