// Starts the pieces for the filter's real-Envoy tests: echo upstream, the
// token-server fixture (BFF internal contract) and Envoy from envoy/*.yaml.
import { join } from "node:path";
import { startTokenServer, type TokenServer } from "../fixtures/token-server.js";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  onCleanup,
  REPO_ROOT,
  startEcho,
  startEnvoy,
} from "../harness/index.js";
import { ensureWasm } from "./wasm-build.js";

export const COOKIE = "__Host-sg-demo";
export const ORIGIN = "https://app.test";

export function filterConfig(over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    bff_cluster: "sessiongate_bff_internal",
    bff_timeout_ms: 500,
    cache: { enabled: true, slots: 1024, skew_s: 5, max_ttl_s: 30 },
    apps: [{ id: "demo", hosts: ["*"], path_prefix: "/", cookie: COOKIE, allowed_origins: [ORIGIN] }],
    ...over,
  });
}

export interface Stack {
  echo: EchoHandle;
  bff: TokenServer;
  envoy: EnvoyHandle;
  url: string;
}

export async function startStack(
  opts: {
    file?: string;
    config?: string;
    vars?: Record<string, string | number>;
    name?: string;
    concurrency?: number;
  } = {},
): Promise<Stack> {
  ensureWasm();
  const echo = await startEcho();
  const bff = await startTokenServer();
  onCleanup(() => bff.stop());
  const listenPort = await freePort();
  const envoy = await startEnvoy({
    file: join(REPO_ROOT, "envoy", opts.file ?? "wasm-filter.yaml"),
    name: opts.name ?? "envoy-filter",
    concurrency: opts.concurrency ?? 2,
    vars: {
      LISTEN_PORT: listenPort,
      ECHO_PORT: echo.port,
      BFF_PORT: bff.port,
      FILTER_CONFIG: opts.config ?? filterConfig(),
      ...opts.vars,
    },
  });
  return { echo, bff, envoy, url: `http://127.0.0.1:${listenPort}` };
}

export async function wasmCounters(envoy: EnvoyHandle): Promise<Record<string, number>> {
  const stats = await envoy.stats();
  const out: Record<string, number> = {};
  for (const [k, v] of stats) {
    // Envoy names wasm-defined metrics "wasmcustom.<name>" (Prometheus: session_to_token_<x>).
    const m = /^wasmcustom\.session_to_token\.([a-z_]+)$/.exec(k);
    if (m) out[m[1]] = v;
  }
  return out;
}
