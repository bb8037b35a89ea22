// The filter in the Node proxy-wasm host (test/wasm-host, same V8 as Envoy):
// ns per request for the cache-hit path, the miss path up to the pause (the
// BFF call dispatched), and cookie parsing with 1 / 10 / 50 cookies. The host's
// own cost (context create/delete, header encoding) is measured in the same
// run by a pass-through request (no cookie) and shown beside the others.
import { readFileSync } from "node:fs";
import { WASM_PATH } from "../../harness/index.js";
import { createHost, type HeaderPair, type Host } from "../../wasm-host/index.js";
import { WA, type WasmModule } from "../../wasm-host/wasm.js";
import { filterConfig } from "../lib/envoy.js";
import { COOKIE } from "../lib/stack.js";
import { cell, type Sample, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, BenchOptions, GroupResult } from "../lib/types.js";

const SID = "S".repeat(43);
const TOKEN = `eyJhbGciOiJSUzI1NiJ9.${"x".repeat(600)}.${"y".repeat(342)}`;

function base(cookie?: string): HeaderPair[] {
  const h: HeaderPair[] = [
    [":method", "GET"],
    [":path", "/api/items?page=1"],
    [":authority", "app.example.com"],
    [":scheme", "https"],
    ["user-agent", "bench"],
    ["accept", "application/json"],
  ];
  if (cookie !== undefined) h.push(["cookie", cookie]);
  return h;
}

/** `n` cookies, the session cookie last (the parser walks past every other one). */
export function cookieHeader(n: number, sid = SID): string {
  const others = Array.from({ length: n - 1 }, (_, i) => `pref_${i}=value-${i}-${"v".repeat(16)}`);
  return [...others, `${COOKIE}=${sid}`].join("; ");
}

function tokenAnswer() {
  return {
    status: 200,
    body: JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 300 }),
  };
}

function timeNs(iterations: number, fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

async function hitHost(wasm: WasmModule, cookie: string): Promise<Host> {
  const host = await createHost(wasm, filterConfig(true));
  const o = host.request(base(cookie));
  if (o.state !== "paused" || !o.call)
    throw new Error(`wasm host: first request did not call the BFF (${o.state})`);
  const done = host.answerHttpCall(o.call.token, tokenAnswer());
  if (done.header("authorization") !== `Bearer ${TOKEN}`) throw new Error("wasm host: token not injected");
  const again = host.request(base(cookie));
  if (again.state !== "continue" || again.header("authorization") !== `Bearer ${TOKEN}`) {
    throw new Error("wasm host: second request was not a cache hit");
  }
  return host;
}

export const wasmHostGroup: BenchGroup = {
  name: "wasm-host",
  title: "The filter in the Node proxy-wasm host (ns per request)",
  estimateS: (o: BenchOptions) => 5 + o.reps * (o.quick ? 3 : 10),
  tools: [],
  async run(ctx: BenchContext): Promise<GroupResult> {
    const { opts } = ctx;
    const wasm = await WA.compile(readFileSync(WASM_PATH));
    const n = opts.quick ? 10_000 : 100_000;
    const cases: { key: string; label: string; setup: () => Promise<(i: number) => void> }[] = [
      {
        key: "passthrough",
        label: "host baseline: pass-through, no cookie",
        setup: async () => {
          const host = await createHost(wasm, filterConfig(true));
          return () => {
            host.request(base());
          };
        },
      },
      ...[1, 10, 50].map((c) => ({
        key: `hit_${c}_cookies`,
        label: `cache hit, ${c} cookie${c > 1 ? "s" : ""} (session cookie last)`,
        setup: async () => {
          const cookie = cookieHeader(c);
          const host = await hitHost(wasm, cookie);
          return () => {
            host.request(base(cookie));
          };
        },
      })),
      {
        key: "miss",
        label: "cache miss, until the pause (BFF call dispatched)",
        setup: async () => {
          const host = await createHost(wasm, filterConfig(true));
          let seq = 0;
          return () => {
            // Each call a session the cache has not seen; the stream is then
            // abandoned (client gone), which also frees the pending call.
            const o = host.request(base(`${COOKIE}=m${String(seq++).padStart(42, "0")}`));
            host.abandon(o);
            // The host keeps answered-or-not calls in pendingCalls and scans it per
            // request: drop ours so the figure is the filter's, not a growing scan.
            if (o.call) host.pendingCalls.delete(o.call.token);
          };
        },
      },
    ];
    const samples: Record<string, number[]> = Object.fromEntries(cases.map((c) => [c.key, []]));
    const fns: Record<string, (i: number) => void> = {};
    for (const c of cases) fns[c.key] = await c.setup();
    // Warm-up: let V8 tier up both the host's JS and the module.
    for (const c of cases) timeNs(Math.min(n, 5000), fns[c.key]);
    const steps = opts.reps * cases.length;
    let step = 0;
    for (let rep = 1; rep <= opts.reps; rep++) {
      for (const c of cases) {
        ctx.progress.update(`${c.label}, rep ${rep}/${opts.reps}`, step++ / steps);
        samples[c.key].push(timeNs(n, fns[c.key]));
        await new Promise((r) => setImmediate(r));
      }
    }
    const figures: Record<string, Sample> = {};
    for (const c of cases) figures[`${c.key}.ns`] = summarize(samples[c.key], "ns/request");
    const over = (k: string) =>
      summarize(
        samples[k].map((x, i) => x - samples.passthrough[i]),
        "ns/request",
      );
    for (const c of cases.slice(1)) figures[`${c.key}.ns_over_host`] = over(c.key);
    return {
      group: "wasm-host",
      title: wasmHostGroup.title,
      figures,
      goals: [],
      tables: [
        {
          title: `${n.toLocaleString("en-US")} requests per repetition, Node ${process.version} (V8)`,
          columns: ["case", "ns/request", "minus host baseline"],
          rows: cases.map((c) => [
            c.label,
            cell(figures[`${c.key}.ns`]),
            c.key === "passthrough" ? "—" : cell(figures[`${c.key}.ns_over_host`]),
          ]),
        },
      ],
      notes: [
        "Times include the host's work per request (context create/delete, header maps encoded into wasm memory, SHA-256 of the cache key in the filter). The pass-through row is that floor, measured in the same repetition; the last column subtracts it per repetition.",
        "The miss row also includes abandoning the stream after the pause (proxy_on_done/delete).",
        `Built filter: ${WASM_PATH}.`,
      ],
    };
  },
};
