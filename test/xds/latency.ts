// Register -> served latency with a real Envoy: register an app over the API,
// then poll through Envoy until its route answers 200 (JWT-authenticated).
// Usage: npx tsx test/xds/latency.ts [--n 20] [--redis]
// Prints a JSON summary per ADS mode (delta, sotw).
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../../xds-server/cli/client.js";
import { freePort, REPO_ROOT, startEcho, startEnvoy, startRedis, stopAll } from "../harness/index.js";
import { baseSpec, get, startControlPlane, startJwks, TOKEN } from "./helpers.js";

const { values } = parseArgs({
  options: { n: { type: "string", default: "20" }, redis: { type: "boolean", default: false } },
});
const N = Number(values.n);

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
} finally {
  await stopAll(false);
}
