// Envoy side by side in one run (docs/architecture.md#performance-is-measured-not-asserted): four listeners in one Envoy
// (--concurrency 1, pinned), loaded in turn by wrk (pinned elsewhere), the
// variants interleaved within every repetition so drift hits them alike.
import { readFileSync } from "node:fs";
import { type BenchEnvoy, LUA_FALLBACK, luaReferenceSource, startBenchEnvoy } from "../lib/envoy.js";
import { cpuSeconds } from "../lib/pin.js";
import { COOKIE, getStack, type Stack } from "../lib/stack.js";
import { cell, ratio, type Sample, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, BenchOptions, Goal, GroupResult } from "../lib/types.js";
import { runWrk, type WrkResult } from "../lib/wrk.js";

type Key = "a" | "b" | "c" | "d";
const VARIANTS: { key: Key; label: string }[] = [
  { key: "a", label: "(a) baseline: bearer sent, jwt_authn" },
  { key: "b", label: "(b) Lua reference (BFF call per request)" },
  { key: "c", label: "(c) wasm filter, cache on" },
  { key: "d", label: "(d) wasm filter, cache off" },
];
/** Saturating load (throughput) and a single connection (per-request latency). */
const LOADED_CONNECTIONS = 32;

function headersFor(k: Key, st: Stack): Record<string, string> {
  return k === "a" ? { authorization: `Bearer ${st.accessToken}` } : { cookie: `${COOKIE}=${st.session}` };
}

async function startWithLua(ctx: BenchContext, st: Stack): Promise<{ be: BenchEnvoy; luaNote: string }> {
  const common = {
    bffPort: st.bffInternalPort,
    issuer: st.op.issuer,
    audience: st.op.audience,
    jwks: st.jwks,
    cpus: ctx.cpus.envoy,
    name: "bench-envoy",
  };
  const reference = luaReferenceSource();
  if (reference) {
    const be = await startBenchEnvoy({ ...common, lua: reference });
    const r = await fetch(`http://127.0.0.1:${be.ports.b}/`, { headers: headersFor("b", st) });
    await r.arrayBuffer();
    if (r.status === 200) return { be, luaNote: "(b) runs the Lua code of envoy/lua-reference.yaml." };
    await be.envoy.stop();
    ctx.log(
      `envoy: envoy/lua-reference.yaml answered ${r.status} for the bench app; using the bench's own Lua`,
    );
    const fb = await startBenchEnvoy({ ...common, lua: readFileSync(LUA_FALLBACK, "utf8") });
    return {
      be: fb,
      luaNote: `(b) runs test/bench/lib/lua-fallback.lua: envoy/lua-reference.yaml answered ${r.status} for the bench app.`,
    };
  }
  const be = await startBenchEnvoy({ ...common, lua: readFileSync(LUA_FALLBACK, "utf8") });
  return {
    be,
    luaNote:
      "(b) runs test/bench/lib/lua-fallback.lua (same work as the filter with cache off): envoy/lua-reference.yaml was not there or had no usable inline Lua.",
  };
}

export const envoyGroup: BenchGroup = {
  name: "envoy",
  title: "Envoy side by side (one Envoy, --concurrency 1)",
  estimateS: (o: BenchOptions) => 25 + VARIANTS.length * (1 + o.reps * o.durationS * 2),
  async run(ctx: BenchContext): Promise<GroupResult> {
    const { opts } = ctx;
    const st = await getStack(ctx);
    const { be, luaNote } = await startWithLua(ctx, st);
    try {
      for (const v of VARIANTS) {
        const r = await fetch(`http://127.0.0.1:${be.ports[v.key]}/`, { headers: headersFor(v.key, st) });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`envoy ${v.label} answered ${r.status} to a valid request`);
      }
      const url = (k: Key) => `http://127.0.0.1:${be.ports[k]}/`;
      const loaded: Record<Key, WrkResult[]> = { a: [], b: [], c: [], d: [] };
      // CPU time per request of Envoy and of the BFF during the loaded runs: the "profile"
      // that says which process bounds each variant.
      const envoyCpuUs: Record<Key, number[]> = { a: [], b: [], c: [], d: [] };
      const bffCpuUs: Record<Key, number[]> = { a: [], b: [], c: [], d: [] };
      const light: Record<Key, WrkResult[]> = { a: [], b: [], c: [], d: [] };
      const steps = VARIANTS.length * (1 + opts.reps * 2);
      let step = 0;
      for (const v of VARIANTS) {
        ctx.progress.update(`warm-up ${v.label}`, step++ / steps);
        await runWrk({
          url: url(v.key),
          connections: LOADED_CONNECTIONS,
          durationS: 1,
          headers: headersFor(v.key, st),
          cpus: ctx.cpus.load,
        });
      }
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const v of VARIANTS) {
          ctx.progress.update(
            `${v.label}, rep ${rep}/${opts.reps}, ${LOADED_CONNECTIONS} connections`,
            step++ / steps,
          );
          const e0 = cpuSeconds(be.envoy.proc.pid);
          const b0 = cpuSeconds(st.bff.pid);
          loaded[v.key].push(
            await runWrk({
              url: url(v.key),
              connections: LOADED_CONNECTIONS,
              durationS: opts.durationS,
              headers: headersFor(v.key, st),
              cpus: ctx.cpus.load,
            }),
          );
          const done = loaded[v.key][loaded[v.key].length - 1];
          envoyCpuUs[v.key].push(((cpuSeconds(be.envoy.proc.pid) - e0) * 1e6) / done.requests);
          bffCpuUs[v.key].push(((cpuSeconds(st.bff.pid) - b0) * 1e6) / done.requests);
          ctx.progress.update(`${v.label}, rep ${rep}/${opts.reps}, 1 connection`, step++ / steps);
          light[v.key].push(
            await runWrk({
              url: url(v.key),
              connections: 1,
              durationS: opts.durationS,
              headers: headersFor(v.key, st),
              cpus: ctx.cpus.load,
            }),
          );
        }
      }
      const stats = await be.envoy.stats();
      const hits = stats.get("wasmcustom.session_to_token.hits") ?? 0;
      const figures: Record<string, Sample> = {};
      for (const v of VARIANTS) {
        figures[`${v.key}.rps`] = summarize(
          loaded[v.key].map((r) => r.rps),
          "req/s",
        );
        figures[`${v.key}.p50_ms`] = summarize(
          loaded[v.key].map((r) => r.p50Ms),
          "ms",
        );
        figures[`${v.key}.p99_ms`] = summarize(
          loaded[v.key].map((r) => r.p99Ms),
          "ms",
        );
        figures[`${v.key}.envoy_cpu_us_per_request`] = summarize(envoyCpuUs[v.key], "µs");
        figures[`${v.key}.bff_cpu_us_per_request`] = summarize(bffCpuUs[v.key], "µs");
        figures[`${v.key}.single_rps`] = summarize(
          light[v.key].map((r) => r.rps),
          "req/s",
        );
        figures[`${v.key}.single_p50_ms`] = summarize(
          light[v.key].map((r) => r.p50Ms),
          "ms",
        );
        figures[`${v.key}.single_p99_ms`] = summarize(
          light[v.key].map((r) => r.p99Ms),
          "ms",
        );
      }
      const R = (n: string, d: string) => ratio(figures[n], figures[d]);
      figures["ratio.c/a.single_p50"] = R("c.single_p50_ms", "a.single_p50_ms");
      figures["ratio.c/a.p50"] = R("c.p50_ms", "a.p50_ms");
      figures["ratio.c/a.rps"] = R("c.rps", "a.rps");
      figures["ratio.c/b.rps"] = R("c.rps", "b.rps");
      figures["ratio.d/b.rps"] = R("d.rps", "b.rps");
      figures["ratio.d/b.single_rps"] = R("d.single_rps", "b.single_rps");
      const goal = (name: string, key: string, target: string, ok: (x: number) => boolean): Goal => ({
        name,
        target,
        measured: cell(figures[key]),
        met: Number.isFinite(figures[key].median) ? ok(figures[key].median) : null,
      });
      const goals = [
        goal("(c)/(a) p50 latency, 1 connection", "ratio.c/a.single_p50", "<= 1.10", (x) => x <= 1.1),
        goal(
          `(c)/(a) p50 latency, ${LOADED_CONNECTIONS} connections`,
          "ratio.c/a.p50",
          "<= 1.10",
          (x) => x <= 1.1,
        ),
        goal("(c)/(b) requests/s", "ratio.c/b.rps", ">= 5", (x) => x >= 5),
        goal("(d)/(b) requests/s", "ratio.d/b.rps", ">= 1.0", (x) => x >= 1.0),
      ];
      return {
        group: "envoy",
        title: envoyGroup.title,
        figures,
        goals,
        tables: [
          {
            title: `Throughput and latency, ${LOADED_CONNECTIONS} connections (wrk, ${opts.durationS} s per repetition)`,
            columns: [
              "variant",
              "requests/s",
              "p50 ms",
              "p99 ms",
              "Envoy CPU µs/request",
              "BFF CPU µs/request",
            ],
            rows: VARIANTS.map((v) => [
              v.label,
              cell(figures[`${v.key}.rps`]),
              cell(figures[`${v.key}.p50_ms`]),
              cell(figures[`${v.key}.p99_ms`]),
              cell(figures[`${v.key}.envoy_cpu_us_per_request`]),
              cell(figures[`${v.key}.bff_cpu_us_per_request`]),
            ]),
          },
          {
            title: "Per-request latency, 1 connection (no queueing)",
            columns: ["variant", "requests/s", "p50 ms", "p99 ms"],
            rows: VARIANTS.map((v) => [
              v.label,
              cell(figures[`${v.key}.single_rps`]),
              cell(figures[`${v.key}.single_p50_ms`]),
              cell(figures[`${v.key}.single_p99_ms`]),
            ]),
          },
          {
            title: "Ratios (per repetition, then median (min–max))",
            columns: ["ratio", "value"],
            rows: [
              ["(c)/(a) p50, 1 connection", cell(figures["ratio.c/a.single_p50"])],
              [`(c)/(a) p50, ${LOADED_CONNECTIONS} connections`, cell(figures["ratio.c/a.p50"])],
              ["(c)/(a) requests/s", cell(figures["ratio.c/a.rps"])],
              ["(c)/(b) requests/s", cell(figures["ratio.c/b.rps"])],
              ["(d)/(b) requests/s", cell(figures["ratio.d/b.rps"])],
              ["(d)/(b) requests/s, 1 connection", cell(figures["ratio.d/b.single_rps"])],
            ],
          },
        ],
        chart: {
          title: "Envoy side by side: same binary, same run",
          panels: [
            {
              metric: `requests/s, ${LOADED_CONNECTIONS} connections`,
              unit: "req/s",
              bars: VARIANTS.map((v) => ({ label: v.label, sample: figures[`${v.key}.rps`] })),
            },
            {
              metric: "p50 latency, 1 connection",
              unit: "ms",
              bars: VARIANTS.map((v) => ({ label: v.label, sample: figures[`${v.key}.single_p50_ms`] })),
            },
          ],
        },
        notes: [
          `Behind (b), (c), (d): the real BFF (${st.bffEntry}, one process) and Redis, with a session logged in through the harness OP's login form; the token in (a) is the one the BFF hands out for it.`,
          luaNote,
          "Every route is a direct_response and jwt_authn (local JWKS, RS256) runs on all four listeners, so the difference between listeners is only the session-to-token work.",
          `Pinning: Envoy on CPU ${ctx.cpus.envoy || "(none)"}${be.pinned ? "" : " (taskset failed: unpinned)"}; wrk, the BFF and Redis on CPU ${ctx.cpus.load || "(none)"}. On a 2-core machine the BFF shares its core with wrk, which bounds (b) and (d).`,
          "CPU µs/request: CPU time (user+system, /proc) the Envoy and the BFF process used during a loaded run, divided by the requests wrk completed: it shows which process bounds each variant (Envoy's core is saturated when its CPU time approaches the run's wall time).",
          `wasm cache hits counted by Envoy during the run: ${hits} (a check that (c) really served from the cache).`,
        ],
      };
    } finally {
      await be.envoy.stop();
    }
  },
};
