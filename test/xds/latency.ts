// Register -> served latency with a real Envoy: register an app over the API,
// then poll through Envoy until its route answers 200 (JWT-authenticated).
// Usage: npx tsx test/xds/latency.ts [--n 20] [--redis]
// Prints a JSON summary per ADS mode (delta, sotw).
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../../xds-server/cli/client.js";
import { freePort, REPO_ROOT, startEcho, startEnvoy, startRedis, stopAll } from "../harness/index.js";
import { baseSpec, get, startControlPlane, startJwks, TOKEN } from "./helpers.js";

const HELP = `Usage: npx tsx test/xds/latency.ts [--n N] [--redis]

Register -> served latency with a real Envoy and the real xds-server: N apps
registered one after another, each polled through Envoy every 5 ms until its
JWT-protected route answers 200. One JSON line per ADS mode (delta, sotw)
with p50/p95/max in ms; progress on stderr.

  --n N      apps to register per mode (default 20, 1..1000)
  --redis    use a Redis registry (default: in-memory)
  -h, --help this text

Exit codes: 0 ok, 1 a run failed, 2 bad arguments.
`;

function args(): { n: number; redis: boolean } {
  try {
    const { values } = parseArgs({
      options: {
        n: { type: "string", default: "20" },
        redis: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      process.exit(0);
    }
    const n = Number(values.n);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`--n: expected 1..1000, got ${values.n}`);
    return { n, redis: values.redis };
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
}

const values = args();
const N = values.n;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 10) / 10;
}

async function run(mode: "delta" | "sotw") {
  const redis = values.redis ? await startRedis() : undefined;
  const cp = await startControlPlane({
    name: `lat-${mode}`,
    redisUrl: redis?.url,
    extraArgs: ["--log-level=warn"],
  });
  const [echo, jwks] = await Promise.all([startEcho(), startJwks()]);
  const port = await freePort();
  await startEnvoy({
    file: join(REPO_ROOT, "envoy", mode === "delta" ? "gateway-ads.yaml" : "gateway-ads-sotw.yaml"),
    name: `lat-${mode}`,
    vars: {
      NODE_ID: `lat-${mode}`,
      XDS_HOST: "127.0.0.1",
      XDS_PORT: cp.xdsPort,
      LISTENER_ADDRESS: "127.0.0.1",
      LISTENER_PORT: port,
    },
  });
  const api = connect(cp.api, TOKEN);
  const token = await jwks.sign();
  const samples: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `lat${i}`;
    const spec = {
      ...baseSpec(id),
      upstreams: [`127.0.0.1:${echo.port}`],
      jwt: { issuer: jwks.issuer, audiences: ["api"], remoteJwksUri: jwks.uri },
    };
    const t0 = performance.now();
    await api.unary("createApp", { app: spec }, 5000);
    for (let k = 0; ; k++) {
      const r = await get(port, "/x", { host: `${id}.test`, authorization: `Bearer ${token}` }).catch(() => ({
        status: 0,
      }));
      if (r.status === 200) break;
      if (k > 4000) throw new Error(`${id} not served after 20 s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    samples.push(performance.now() - t0);
    process.stderr.write(`${mode}: ${i + 1}/${N} served in ${Math.round(samples[i])} ms\n`);
  }
  api.close();
  return {
    mode,
    store: redis ? "redis" : "memory",
    n: N,
    apps_at_end: N,
    p50_ms: pct(samples, 50),
    p95_ms: pct(samples, 95),
    max_ms: pct(samples, 100),
    first_ms: Math.round(samples[0]),
  };
}

try {
  for (const mode of ["delta", "sotw"] as const) console.log(JSON.stringify(await run(mode)));
} catch (e) {
  process.stderr.write(`latency: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await stopAll(process.exitCode === 1);
}
