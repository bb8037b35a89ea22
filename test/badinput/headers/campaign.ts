// The header-fuzz campaign: `n` generated header sets through the filter in
// the Node proxy-wasm host (same V8 as Envoy), the BFF answered by the host's
// call hook (LIVE sessions get their own token, FAILING ones a 500, the rest
// 401). No trap, never another session's token, never the session cookie
// upstream, never an unsafe cross-site request forwarded with the cookie.
import fc from "fast-check";
import { ensureWasm } from "../../filter/wasm-build.js";
import { createHost, type Host, type Outcome } from "../../wasm-host/index.js";
import { WA, type WasmModule } from "../../wasm-host/wasm.js";
import { type CampaignFigures, type Log, pickSeed, progress, show, Tally } from "../figures.js";
import { COOKIE, FAILING, type HeaderSet, HOST, headerSet, LIVE, ORIGIN, tokenFor, toPairs } from "./gen.js";
import { judge, outcomeLabel, type Seen } from "./judge.js";

export interface HeaderFuzzOptions {
  n: number;
  seed?: number;
  log?: Log;
  /** A fresh host (and filter VM) every this many sets: bounds memory whatever n is. */
  recreateEvery?: number;
}

/** 8 cache slots for 40 sessions: slot collisions on almost every request. */
export const FUZZ_CONFIG = JSON.stringify({
  bff_cluster: "bff",
  cache: { slots: 8, skew_s: 5, max_ttl_s: 30 },
  apps: [{ id: "demo", hosts: [HOST], cookie: COOKIE, allowed_origins: [ORIGIN] }],
});

/** Answers the filter's BFF call as a BFF that knows LIVE and fails on FAILING. */
function answer(h: Host, o: Outcome): Outcome {
  const call = o.call;
  if (!call) throw new Error("paused without a call");
  const sid = call.headers.find(([k]) => k === "x-sessiongate-session")?.[1] ?? "";
  if (LIVE.has(sid))
    return h.answerHttpCall(call.token, {
      status: 200,
      body: JSON.stringify({ access_token: tokenFor(sid), token_type: "Bearer", expires_in: 120 }),
    });
  if (FAILING.has(sid)) return h.answerHttpCall(call.token, { status: 500, body: '{"error":"internal"}' });
  return h.answerHttpCall(call.token, { status: 401, body: '{"error":"no_session"}' });
}

export function seenOf(o: Outcome): Seen {
  return o.state === "local"
    ? { forwarded: false, status: o.local?.status, body: o.local?.body, authorization: [], cookies: [] }
    : { forwarded: true, authorization: o.all("authorization"), cookies: o.all("cookie") };
}

let compiled: WasmModule | undefined;

export async function runHeaderFuzzCampaign(opts: HeaderFuzzOptions): Promise<CampaignFigures> {
  const seed = pickSeed(opts.seed);
  const tally = new Tally("header-fuzz", opts.n, seed);
  // ensureWasm rebuilds build/session-to-token.wasm when the filter's sources are newer.
  compiled ??= await WA.compile(ensureWasm());
  const every = opts.recreateEvery ?? 100_000;
  const fresh = async () => {
    const h = await createHost(compiled as WasmModule, FUZZ_CONFIG, { clusters: ["bff"] });
    if (!h.configured) throw new Error("the filter refused the fuzz configuration");
    return h;
  };
  let host = await fresh();
  let hosts = 1;
  let maxWasmBytes = 0;
  let maxPending = 0;
  const tick = progress(opts.log, "header sets", opts.n);
  opts.log?.(`header-fuzz: seed ${seed}, n ${opts.n}, new host every ${every}`);
  const chunk = 10_000;
  for (let start = 0; start < opts.n; start += chunk) {
    const sets: HeaderSet[] = fc.sample(headerSet, {
      seed: seed + start,
      numRuns: Math.min(chunk, opts.n - start),
    });
    for (const [i, h] of sets.entries()) {
      const at = start + i;
      if (at > 0 && at % every === 0) {
        maxWasmBytes = Math.max(maxWasmBytes, host.memoryBytes());
        host = await fresh();
        hosts++;
      }
      let o: Outcome;
      try {
        o = host.request(toPairs(h));
        if (o.state === "paused") {
          if (h.abandon) {
            host.abandon(o);
            tally.count("abandoned while the BFF call was pending");
            continue;
          }
          o = answer(host, o);
        }
      } catch (e) {
        tally.count("trap");
        tally.violation(`trap (${(e as Error).message.slice(0, 100)}) on set #${at}: ${show(h)}`);
        host = await fresh();
        hosts++;
        continue;
      }
      const seen = seenOf(o);
      tally.count(outcomeLabel(h, seen));
      const bad = judge(h, seen, { exact: true });
      if (bad) tally.violation(`${bad} on set #${at}: ${show(h)}`);
    }
    // The filter's clock moves on, so cached tokens expire and slots turn over.
    host.clock.nowMs += 7_000;
    host.logs.length = 0;
    maxPending = Math.max(maxPending, host.pendingCalls.size);
    tick(Math.min(opts.n, start + chunk));
    await new Promise((r) => setImmediate(r));
  }
  maxWasmBytes = Math.max(maxWasmBytes, host.memoryBytes());
  tally.extra.hosts_created = hosts;
  tally.extra.max_wasm_memory_bytes = maxWasmBytes;
  tally.extra.max_pending_calls = maxPending;
  tally.extra.filter_hits = host.metrics.get("session_to_token.hits") ?? 0;
  tally.extra.rss_mib_after = Math.round(process.memoryUsage().rss / 2 ** 20);
  return tally.figures();
}
