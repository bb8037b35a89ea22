// Where the filter's own wasm time goes on a cache hit: V8's CPU profiler (the
// same V8 as Envoy's wasm runtime) over many cache-hit requests in the Node
// host, self time per function of a build with names (`--target debug`, which
// this script compiles to a temporary file), host functions included.
//   npx tsx test/wasm-host/profile.ts [--requests 300000] [--top 25] [--wasm-only]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "../harness/index.js";
import { createHost, type HeaderPair } from "./index.js";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "300000" },
    top: { type: "string", default: "25" },
    "wasm-only": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});
if (args.help) {
  process.stdout.write("usage: tsx test/wasm-host/profile.ts [--requests N] [--top N]\n");
  process.exit(0);
}

const out = join(REPO_ROOT, "build", "session-to-token.profile.wasm");
// Optimised like the release build, with names kept for the profile.
execFileSync(
  join(REPO_ROOT, "node_modules", ".bin", "asc"),
  ["filter/assembly/index.ts", "--target", "release", "--debug", "--outFile", out],
  { cwd: REPO_ROOT, stdio: "inherit" },
);
const COOKIE = "__Host-sg-bench";
const cfg = JSON.stringify({
  bff_cluster: "bff",
  cache: { slots: 16384, max_ttl_s: 300 },
  apps: [{ id: "bench", hosts: ["*"], cookie: COOKIE }],
});
const TOKEN = `eyJhbGciOiJSUzI1NiJ9.${"x".repeat(600)}.${"y".repeat(342)}`;
const headers: HeaderPair[] = [
  [":method", "GET"],
  [":path", "/api/items?page=1"],
  [":authority", "app.example.com"],
  [":scheme", "https"],
  ["user-agent", "bench"],
  ["accept", "application/json"],
  ["cookie", `theme=dark; ${COOKIE}=${"S".repeat(43)}`],
];
const host = await createHost(readFileSync(out), cfg);
const first = host.request(headers);
if (!first.call) throw new Error("no BFF call on the first request");
host.answerHttpCall(first.call.token, {
  status: 200,
  body: JSON.stringify({ access_token: TOKEN, token_type: "Bearer", expires_in: 3600 }),
});
const n = Number(args.requests);
for (let i = 0; i < 20_000; i++) host.request(headers);
const session = new Session();
session.connect();
await session.post("Profiler.enable");
await session.post("Profiler.setSamplingInterval", { interval: 50 });
await session.post("Profiler.start");
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const o = host.request(headers);
  if (o.state !== "continue") throw new Error("not a cache hit");
}
const ns = Number(process.hrtime.bigint() - t0) / n;
const { profile } = await session.post("Profiler.stop");
const self = new Map<string, number>();
let inWasm = 0;
const total = profile.samples?.length ?? 0;
const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
for (const id of profile.samples ?? []) {
  const nd = byId.get(id);
  if (!nd) continue;
  const f = nd.callFrame;
  const wasm = f.url.startsWith("wasm://");
  const name = `${f.functionName || "(anonymous)"} ${wasm ? "[wasm]" : f.url ? f.url.split("/").slice(-2).join("/") : "[node]"}`;
  self.set(name, (self.get(name) ?? 0) + 1);
  if (wasm) inWasm++;
}
process.stdout.write(
  `cache hit in the Node host: ${ns.toFixed(0)} ns/request (host included), ${total} samples; in the filter's wasm code: ${((100 * inWasm) / total).toFixed(1)}% = ${((ns * inWasm) / total).toFixed(0)} ns/request\n\n`,
);
process.stdout.write("| self % | ns/request | function |\n|---:|---:|---|\n");
const wasmOnly = process.argv.includes("--wasm-only");
for (const [name, c] of [...self]
  .filter(([k]) => !wasmOnly || k.endsWith("[wasm]"))
  .sort((a, b) => b[1] - a[1])
  .slice(0, Number(args.top))) {
  process.stdout.write(
    `| ${((100 * c) / total).toFixed(1)} | ${((ns * c) / total).toFixed(0)} | ${name} |\n`,
  );
}
