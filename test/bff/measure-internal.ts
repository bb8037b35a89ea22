// Measures the BFF's internal token path (the filter's cache-miss hop):
//   npx tsx test/bff/measure-internal.ts [seconds] [connections]
// Starts redis-server, the harness OP and one BFF child process, logs in once, then
// drives GET /internal/v1/session-token with autocannon and prints JSON figures.
import { createRequire } from "node:module";
import { join } from "node:path";
import { REPO_ROOT, startOP, startProcess, startRedis, stopAll } from "../harness/index.js";
import { bffConfig, login, opClient, ports, writeConfig } from "./helpers.js";

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
}
// autocannon ships no types; this is the slice we use.
const autocannon = createRequire(import.meta.url)("autocannon") as (opts: {
  url: string;
  headers: Record<string, string>;
  connections: number;
  duration: number;
}) => Promise<CannonResult>;

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 32);
const APP = { id: "web", mode: "bff" as const, secret: "web-secret-0123456789abcdef" };

async function main() {
  const [pp, ip] = await ports(2);
  const pub = `http://127.0.0.1:${pp}`;
  const internal = `http://127.0.0.1:${ip}`;
  const redis = await startRedis();
  const op = await startOP({ clients: [opClient(pub, APP)], ttl: 3600 });
  const cfg = bffConfig({
    publicPort: pp,
    internalPort: ip,
    redisUrl: redis.url,
    issuer: op.issuer,
    apps: [APP],
  });
  await startProcess({
    name: "bff-measure",
    cmd: join(REPO_ROOT, "node_modules", ".bin", "tsx"),
    args: [join(REPO_ROOT, "bff", "main.ts"), "--config", writeConfig("bff-measure", cfg)],
    cwd: REPO_ROOT,
    ready: { url: `${internal}/healthz` },
  });
  const r = await login(pub, op, "web");
  const result = await autocannon({
    url: `${internal}/internal/v1/session-token`,
    headers: { "x-sessiongate-app": "web", "x-sessiongate-session": r.session },
    connections,
    duration: seconds,
  });
  const out = {
    what: "BFF internal token path (Redis GETEX + AES-GCM decrypt, no refresh), one BFF process",
    connections,
    seconds,
    requests_per_s: result.requests.average,
    latency_ms: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    non2xx: result.non2xx,
    errors: result.errors,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

main()
  .then(() => stopAll(false))
  .catch(async (err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    await stopAll(true);
    process.exitCode = 1;
  });
