// The pieces of the control-plane benchmark: the real xds-server as its own
// process (so its RSS and CPU are its own), a JWKS for the apps' jwt rules, the
// registration API client, and the "is it served by Envoy yet" probe.
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { exportJWK, generateKeyPair } from "jose";
import { AppSpecSchema } from "../../../protos/gen/sessiongate/v1/apps_pb.js";
import { type Client, connect } from "../../../xds-server/cli/client.js";
import {
  freePort,
  hostRequest,
  type ManagedProcess,
  onCleanup,
  REPO_ROOT,
  startProcess,
  WASM_PATH,
} from "../../harness/index.js";
import { pin } from "./pin.js";

export const API_TOKEN = "bench-token-0123456789abcdef";

export interface ControlPlane {
  proc: ManagedProcess;
  xdsPort: number;
  apiPort: number;
  client: Client;
  entry: string;
  stop(): Promise<void>;
}

export async function startControlPlane(cpus: string): Promise<ControlPlane> {
  const [xdsPort, apiPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const dist = join(REPO_ROOT, "build", "dist", "xds-server", "main.js");
  const entry = existsSync(dist) ? [dist] : ["--import", "tsx", join(REPO_ROOT, "xds-server", "main.ts")];
  const proc = await startProcess({
    name: "bench-xds-server",
    cmd: process.execPath,
    args: [
      ...entry,
      `--xds-port=${xdsPort}`,
      "--xds-insecure", // loopback only; mTLS ADS has its own tests (test/xds/ads-mtls.e2e.test.ts)
      `--api-port=${apiPort}`,
      `--http-port=${httpPort}`,
      `--api-token=${API_TOKEN}`,
      "--gateway-address=127.0.0.1",
      `--wasm-file=${WASM_PATH}`,
      "--log-level=warn",
    ],
    cwd: REPO_ROOT,
    ready: { url: `http://127.0.0.1:${httpPort}/readyz` },
    readyTimeoutMs: 30_000,
  });
  pin(proc.pid, cpus);
  const client = connect(`127.0.0.1:${apiPort}`, API_TOKEN);
  return {
    proc,
    xdsPort,
    apiPort,
    client,
    entry: existsSync(dist) ? "build/dist/xds-server/main.js" : "xds-server/main.ts (tsx)",
    stop: async () => {
      client.close();
      await proc.stop();
    },
  };
}

export interface JwksServer {
  uri: string;
  port: number;
}

export async function startJwksServer(): Promise<JwksServer> {
  const { publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench", alg: "RS256", use: "sig" };
  const body = JSON.stringify({ keys: [jwk] });
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  return { uri: `http://127.0.0.1:${port}/jwks.json`, port };
}

export function appHost(id: string): string {
  return `${id}.bench.test`;
}

export function benchApp(id: string, jwks: JwksServer) {
  return fromJson(AppSpecSchema, {
    id,
    hosts: [appHost(id)],
    path_prefix: "/",
    oidc: {
      issuer: "https://op.bench.test",
      client_id: `${id}-client`,
      client_secret: `secret-of-${id}`,
      scopes: ["openid"],
    },
    session: { mode: "bff" },
    upstreams: [`127.0.0.1:${jwks.port}`],
    jwt: { issuer: "https://op.bench.test", audiences: ["api"], remote_jwks_uri: jwks.uri },
  });
}

export function register(cp: ControlPlane, id: string, jwks: JwksServer): Promise<unknown> {
  return cp.client.unary("createApp", { app: benchApp(id, jwks) }, 30_000);
}

/**
 * Registers `ids` with the ApplyApps RPC, in calls of at most `perCall` specs
 * (a bench spec is ~350 bytes: 1,000 stay well under the API's 1 MiB message
 * limit). Returns the seconds the calls took.
 */
export async function applyApps(
  cp: ControlPlane,
  ids: string[],
  jwks: JwksServer,
  onProgress: (done: number) => void,
  perCall = 1000,
): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i += perCall) {
    const apps = ids.slice(i, i + perCall).map((id) => benchApp(id, jwks));
    await cp.client.unary("applyApps", { apps, prune: false, dryRun: false }, 600_000);
    onProgress(Math.min(ids.length, i + perCall));
  }
  return (performance.now() - t0) / 1000;
}

/** Status of GET / with the app's Host through the gateway (404 = no route yet). */
export function probe(port: number, host: string): Promise<number> {
  return hostRequest(port, "/", { host }, { timeoutMs: 2000 }).then(
    (r) => r.status,
    () => 0,
  );
}

/** performance.now() when the gateway first routes `host` (anything but 404 / no answer), or NaN after `maxMs`. */
export async function untilServed(port: number, host: string, maxMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < maxMs) {
    const s = await probe(port, host);
    if (s !== 404 && s !== 0) return performance.now();
    await new Promise((r) => setTimeout(r, 1));
  }
  return Number.NaN;
}
