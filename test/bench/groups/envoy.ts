// Envoy side by side in one run (docs/architecture.md#performance-is-measured-not-asserted): six listeners in one Envoy
// (--concurrency 1, pinned), loaded in turn by wrk (pinned elsewhere), the
// variants interleaved within every repetition so drift hits them alike. (e)
// and (f) are the peers a user would pick instead (lib/peers.ts).
import { readFileSync } from "node:fs";
import { type BenchEnvoy, LUA_FALLBACK, luaReferenceSource, startBenchEnvoy } from "../lib/envoy.js";
import {
  checkPeersRefuse,
  loginEnvoyOauth2,
  loginOauth2Proxy,
  OAUTH2_PROXY_VERSION,
  peerVars,
  startOauth2Proxy,
} from "../lib/peers.js";
import { cpuSeconds, pin } from "../lib/pin.js";
import { COOKIE, getStack, redisPid, type Stack } from "../lib/stack.js";
import { cell, ratio, type Sample, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, BenchOptions, Goal, GroupResult } from "../lib/types.js";
import { runWrk, type WrkResult } from "../lib/wrk.js";

type Key = "a" | "b" | "c" | "d" | "e" | "f" | "g";
const VARIANTS: { key: Key; label: string; short: string }[] = [
  { key: "a", label: "(a) baseline: bearer sent, jwt_authn", short: "(a) bearer + jwt_authn" },
  { key: "b", label: "(b) Lua reference (BFF call per request)", short: "(b) Lua reference" },
  { key: "c", label: "(c) wasm filter, cache on", short: "(c) sessiongate, hit" },
  { key: "d", label: "(d) wasm filter, cache off", short: "(d) sessiongate, miss" },
  { key: "e", label: "(e) oauth2-proxy ext_authz, Redis sessions", short: "(e) oauth2-proxy" },
  { key: "f", label: "(f) Envoy oauth2 filter (cookies)", short: "(f) Envoy oauth2" },
  { key: "g", label: "(g) empty proxy-wasm filter, bearer sent", short: "(g) empty wasm filter" },
];
const keyed = <T>(f: () => T): Record<Key, T> => ({
  a: f(),
  b: f(),
  c: f(),
  d: f(),
  e: f(),
  f: f(),
  g: f(),
});
/** Saturating load (throughput) and a single connection (per-request latency). */
const LOADED_CONNECTIONS = 32;

/** The peers' session cookies, set once they are logged in. */
const peerCookies = { e: "", f: "" };

function headersFor(k: Key, st: Stack): Record<string, string> {
  if (k === "a" || k === "g") return { authorization: `Bearer ${st.accessToken}` };
  if (k === "e" || k === "f") return { cookie: peerCookies[k] };
  return { cookie: `${COOKIE}=${st.session}` };
}

async function startWithLua(ctx: BenchContext, st: Stack): Promise<{ be: BenchEnvoy; luaNote: string }> {
  const common = {
    peers: await peerVars(st),
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
  estimateS: (o: BenchOptions) => 35 + VARIANTS.length * (1 + o.reps * o.durationS * 2),
  tools: ["wrk", "taskset", "redis-server", "envoy", "oauth2-proxy"],
  async run(ctx: BenchContext): Promise<GroupResult> {
    const { opts } = ctx;
    const st = await getStack(ctx);
    const o2p = await startOauth2Proxy(st);
    pin(o2p.pid, ctx.cpus.load);
    const { be, luaNote } = await startWithLua(ctx, st);
    try {
      peerCookies.e = await loginOauth2Proxy(st, st.op);
      peerCookies.f = await loginEnvoyOauth2(be.ports.f, st.op);
      const refusals = await checkPeersRefuse(be.ports, peerCookies);
      ctx.log(
        `envoy: peers logged in through the OP; without/with a tampered cookie: ${refusals.map((c) => `${c.variant} ${c.missing}/${c.tampered}`).join(", ")}`,
      );
      for (const v of VARIANTS) {
        const r = await fetch(`http://127.0.0.1:${be.ports[v.key]}/`, { headers: headersFor(v.key, st) });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`envoy ${v.label} answered ${r.status} to a valid request`);
      }
      const url = (k: Key) => `http://127.0.0.1:${be.ports[k]}/`;
      const loaded = keyed<WrkResult[]>(() => []);
      // CPU time per request of Envoy, of the helper behind it (the BFF, or oauth2-proxy
      // for (e)) and of Redis during the loaded runs: the "profile" that says which
      // process bounds each variant, and what a request costs in total.
      const envoyCpuUs = keyed<number[]>(() => []);
      const bffCpuUs = keyed<number[]>(() => []);
      const redisCpuUs = keyed<number[]>(() => []);
      const totalCpuUs = keyed<number[]>(() => []);
      const light = keyed<WrkResult[]>(() => []);
      const rPid = redisPid(st.redis);
      const helperPid = (k: Key) => (k === "e" ? o2p.pid : st.bff.pid);
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
          const b0 = cpuSeconds(helperPid(v.key));
          const r0 = cpuSeconds(rPid);
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
          const per = (s: number) => (s * 1e6) / done.requests;
          const [eu, bu, ru] = [
            per(cpuSeconds(be.envoy.proc.pid) - e0),
            per(cpuSeconds(helperPid(v.key)) - b0),
            per(cpuSeconds(rPid) - r0),
          ];
          envoyCpuUs[v.key].push(eu);
          bffCpuUs[v.key].push(bu);
          redisCpuUs[v.key].push(ru);
          totalCpuUs[v.key].push(eu + bu + ru);
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
        figures[`${v.key}.redis_cpu_us_per_request`] = summarize(redisCpuUs[v.key], "µs");
        figures[`${v.key}.total_cpu_us_per_request`] = summarize(totalCpuUs[v.key], "µs");
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
      figures["ratio.c/f.envoy_cpu"] = R("c.envoy_cpu_us_per_request", "f.envoy_cpu_us_per_request");
      figures["ratio.c/f.single_p50"] = R("c.single_p50_ms", "f.single_p50_ms");
      figures["ratio.d/e.total_cpu"] = R("d.total_cpu_us_per_request", "e.total_cpu_us_per_request");
      figures["ratio.c/e.total_cpu"] = R("c.total_cpu_us_per_request", "e.total_cpu_us_per_request");
      // The filter's own work on a hit: Envoy CPU of (c) minus an empty proxy-wasm filter's (g), per repetition.
      figures["diff.c-g.envoy_cpu"] = summarize(
        envoyCpuUs.c.map((x, i) => x - envoyCpuUs.g[i]),
        "µs",
      );
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
        goal("(c)/(f) Envoy CPU µs/request", "ratio.c/f.envoy_cpu", "<= 1.0", (x) => x <= 1.0),
        goal("(c)/(f) p50 latency, 1 connection", "ratio.c/f.single_p50", "<= 1.0", (x) => x <= 1.0),
        goal("(d)/(e) total CPU µs/request", "ratio.d/e.total_cpu", "<= 0.5", (x) => x <= 0.5),
        goal("(c)/(e) total CPU µs/request", "ratio.c/e.total_cpu", "<= 0.25", (x) => x <= 0.25),
        goal(
          "(c) - (g): the filter's own Envoy CPU on a hit beyond an empty proxy-wasm filter, µs",
          "diff.c-g.envoy_cpu",
          "<= 5",
          (x) => x <= 5,
        ),
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
              "helper CPU µs/request (BFF; (e) oauth2-proxy)",
              "Redis CPU µs/request",
              "total CPU µs/request",
            ],
            rows: VARIANTS.map((v) => [
              v.label,
              cell(figures[`${v.key}.rps`]),
              cell(figures[`${v.key}.p50_ms`]),
              cell(figures[`${v.key}.p99_ms`]),
              cell(figures[`${v.key}.envoy_cpu_us_per_request`]),
              cell(figures[`${v.key}.bff_cpu_us_per_request`]),
              cell(figures[`${v.key}.redis_cpu_us_per_request`]),
              cell(figures[`${v.key}.total_cpu_us_per_request`]),
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
              ["(c)/(f) Envoy CPU µs/request", cell(figures["ratio.c/f.envoy_cpu"])],
              ["(c)/(f) p50, 1 connection", cell(figures["ratio.c/f.single_p50"])],
              ["(d)/(e) total CPU µs/request", cell(figures["ratio.d/e.total_cpu"])],
              ["(c)/(e) total CPU µs/request", cell(figures["ratio.c/e.total_cpu"])],
              [
                "(c) - (g) Envoy CPU µs/request (the filter's own work on a hit)",
                cell(figures["diff.c-g.envoy_cpu"]),
              ],
            ],
          },
        ],
        chart: {
          title: "Envoy side by side: same binary, same run",
          panels: [
            {
              metric: `requests/s, ${LOADED_CONNECTIONS} connections`,
              unit: "req/s",
              bars: VARIANTS.map((v) => ({ label: v.short, sample: figures[`${v.key}.rps`] })),
            },
            {
              metric: "p50 latency, 1 connection",
              unit: "ms",
              bars: VARIANTS.map((v) => ({ label: v.short, sample: figures[`${v.key}.single_p50_ms`] })),
            },
            {
              metric: `total CPU per request (Envoy + helper + Redis), ${LOADED_CONNECTIONS} connections`,
              unit: "µs",
              bars: VARIANTS.map((v) => ({
                label: v.short,
                sample: figures[`${v.key}.total_cpu_us_per_request`],
              })),
            },
          ],
        },
        notes: [
          `Behind (b), (c), (d): the real BFF (${st.bffEntry}, one process) and Redis, with a session logged in through the harness OP's login form; the token in (a) is the one the BFF hands out for it.`,
          luaNote,
          `(e) oauth2-proxy ${OAUTH2_PROXY_VERSION} (go install, one process, request and auth logging off) as Envoy's HTTP ext_authz, sessions in the same Redis; its proxy path with a static 200 upstream (its /oauth2/auth answers 202, a denial to Envoy) answers with the session's access token as authorization: Bearer (alpha config injectResponseHeaders), which jwt_authn then verifies. (f) Envoy's envoy.filters.http.oauth2 with forward_bearer_token: tokens in HMAC-signed cookies, no hop. Both logged in through the OP's login form; before measuring, each answered ${refusals.map((c) => `${c.variant}: ${c.valid} logged in, ${c.missing} without cookie, ${c.tampered} with a tampered cookie`).join("; ")}.`,
          "Every route is a direct_response and jwt_authn (local JWKS, RS256) runs on all seven listeners, so the difference between listeners is only the session work. (g) runs filter/empty-filter (an empty proxy-wasm filter, no host call) with the bearer sent, so (c) - (g) is what the session-to-token filter itself costs Envoy on a hit.",
          `Pinning: Envoy on CPU ${ctx.cpus.envoy || "(none)"}${be.pinned ? "" : " (taskset failed: unpinned)"}; wrk, the BFF, oauth2-proxy and Redis on CPU ${ctx.cpus.load || "(none)"}. On a 2-core machine the helper shares its core with wrk, which bounds (b), (d) and (e).`,
          "CPU µs/request: CPU time (user+system, /proc) the Envoy, helper (the BFF; oauth2-proxy for (e)) and Redis processes used during a loaded run, divided by the requests wrk completed: it shows which process bounds each variant (Envoy's core is saturated when its CPU time approaches the run's wall time); total = the three. The BFF idles behind (a), (c), (e) and (f), so its column there is its idle cost.",
          `wasm cache hits counted by Envoy during the run: ${hits} (a check that (c) really served from the cache).`,
        ],
      };
    } finally {
      await be.envoy.stop();
      await o2p.stop();
    }
  },
};
