// Micro-benchmark of the filter in the Node host (same V8 as Envoy): per-request
// cost of pass-through, cache hit and miss (+ BFF answer), host overhead included.
//   npx tsx test/wasm-host/bench.ts [--requests 200000] [--json]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createHost, type HeaderPair } from "./index.js";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "200000" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (args.help) {
  process.stdout.write(
    "usage: tsx test/wasm-host/bench.ts [--requests N] [--json]\n(build first: npm run build:wasm)\n",
  );
  process.exit(0);
}
const N = Number(args.requests);
const wasm = readFileSync(join(import.meta.dirname, "..", "..", "build", "session-to-token.wasm"));
const COOKIE = "__Host-sg-demo";
const cfg = JSON.stringify({
  bff_cluster: "bff",
  cache: { slots: 16384, max_ttl_s: 300 },
  apps: [{ id: "demo", hosts: ["*"], cookie: COOKIE }],
});
const TOKEN = `eyJhbGciOiJFUzI1NiJ9.${"x".repeat(600)}.${"s".repeat(86)}`;
const answer = {
  status: 200,
  body: JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }),
};
const base: HeaderPair[] = [
  [":method", "GET"],
  [":path", "/api/items?page=2"],
  [":authority", "app.example.com"],
  [":scheme", "https"],
  ["accept", "application/json"],
  ["user-agent", "bench"],
];

async function measure(
  name: string,
  fn: (h: Awaited<ReturnType<typeof createHost>>, i: number) => void,
  n: number,
) {
  const h = await createHost(wasm, cfg);
  for (let i = 0; i < Math.min(n, 5000); i++) fn(h, i); // warm-up (JIT, cache)
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(h, i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  return {
    name,
    requests: n,
    usPerRequest: Math.round(ns / 10) / 100,
    requestsPerSecond: Math.round(1e9 / ns),
  };
}

const sid = (i: number) => `s${i.toString(36)}`.padEnd(43, "A");
const results = [
  await measure("passthrough (no cookie)", (h) => void h.request(base), N),
  await measure(
    "cache hit",
    (h, i) => {
      const o = h.request([...base, ["cookie", `theme=dark; ${COOKIE}=${sid(i % 1000)}; lang=en`]]);
      if (o.state === "paused") h.answerHttpCall(o.call!.token, answer);
    },
    N,
  ),
  await measure(
    "cache miss + BFF answer",
    (h, i) => {
      const o = h.request([...base, ["cookie", `theme=dark; ${COOKIE}=${sid(i + 10_000_000)}; lang=en`]]);
      if (o.state === "paused") h.answerHttpCall(o.call!.token, answer);
    },
    Math.min(N, 50_000),
  ),
];
if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else
  for (const r of results)
    process.stdout.write(
      `${r.name.padEnd(26)} ${String(r.usPerRequest).padStart(7)} µs/request  ${r.requestsPerSecond} req/s\n`,
    );
