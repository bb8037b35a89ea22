// The stack's own processes, each one killable (SIGKILL) and restartable on
// the same ports: BFF replicas (`bff/main.ts --config`, compiled when built)
// and xds-server replicas on a shared Redis registry.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  LOG_DIR,
  type ManagedProcess,
  onCleanup,
  type ProcessOptions,
  REPO_ROOT,
  startProcess,
  WASM_PATH,
} from "../../harness/index.js";

export interface Restartable {
  name: string;
  proc(): ManagedProcess;
  /** SIGKILL: no shutdown hook runs, in-flight work is cut. */
  kill(): Promise<void>;
  /** Starts it again with the same arguments and ports, and waits until it is ready. */
  start(): Promise<void>;
}

async function restartable(opts: ProcessOptions): Promise<Restartable> {
  let proc = await startProcess(opts);
  return {
    name: opts.name,
    proc: () => proc,
    kill: () => proc.kill(),
    start: async () => {
      proc = await startProcess(opts);
    },
  };
}

/** The compiled entry when `npm run build` made it, else the TypeScript source under tsx. */
export function nodeEntry(part: "bff" | "xds-server"): { args: string[]; label: string } {
  const dist = join(REPO_ROOT, "build", "dist", part, "main.js");
  if (existsSync(dist)) return { args: [dist], label: `build/dist/${part}/main.js` };
  return { args: ["--import", "tsx", join(REPO_ROOT, part, "main.ts")], label: `${part}/main.ts (tsx)` };
}

export interface BffReplica extends Restartable {
  publicPort: number;
  internalPort: number;
  /** The admin listener: /metrics. */
  adminPort: number;
}

/** `config` is the BFF's YAML/JSON document without its listeners; they are added per replica. */
export async function startBffReplica(name: string, config: Record<string, unknown>): Promise<BffReplica> {
  const [publicPort, internalPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const file = join(LOG_DIR, `${name}-${process.pid}.json`);
  const full = {
    ...config,
    public: { listen: `127.0.0.1:${publicPort}` },
    internal: { ...(config.internal as object), listen: `127.0.0.1:${internalPort}` },
    admin: { listen: `127.0.0.1:${adminPort}` },
  };
  writeFileSync(file, JSON.stringify(full, null, 2), { mode: 0o600 });
  // It holds the session keys: gone with the run.
  onCleanup(() => rmSync(file, { force: true }));
  const r = await restartable({
    name,
    cmd: process.execPath,
    args: [...nodeEntry("bff").args, "--config", file],
    cwd: REPO_ROOT,
    ready: { url: `http://127.0.0.1:${internalPort}/readyz` },
    readyTimeoutMs: 30_000,
  });
  return { ...r, publicPort, internalPort, adminPort };
}

export interface XdsReplica extends Restartable {
  xdsPort: number;
  apiPort: number;
  httpPort: number;
  /** ADS streams this replica serves now (its sessiongate_xds_streams gauge), -1 if it does not answer. */
  streams(): Promise<number>;
}

export async function startXdsReplica(
  name: string,
  o: {
    redisUrl: string;
    apiToken: string;
    bffPublicPort: number;
    bffInternalPort: number;
    internalKey: string;
    /** kid:base64(32 bytes), shared by the replicas so each can read the others' sealed secrets. */
    secretKeys: string;
    cacheMaxTtlS: number;
    cacheSkewS: number;
  },
): Promise<XdsReplica> {
  const [xdsPort, apiPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const r = await restartable({
    name,
    cmd: process.execPath,
    args: [
      ...nodeEntry("xds-server").args,
      `--xds-port=${xdsPort}`,
      "--xds-insecure", // loopback only; mTLS ADS has its own tests (test/xds/ads-mtls.e2e.test.ts)
      `--api-port=${apiPort}`,
      `--http-port=${httpPort}`,
      `--redis-url=${o.redisUrl}`,
      `--wasm-file=${WASM_PATH}`,
      `--bff-public=127.0.0.1:${o.bffPublicPort}`,
      `--bff-internal=127.0.0.1:${o.bffInternalPort}`,
      `--cache-max-ttl-s=${o.cacheMaxTtlS}`,
      `--cache-skew-s=${o.cacheSkewS}`,
      "--log-level=warn",
    ],
    // Secrets by environment, not argv.
    env: {
      SESSIONGATE_API_TOKEN: o.apiToken,
      SESSIONGATE_BFF_INTERNAL_KEY: o.internalKey,
      SESSIONGATE_SECRET_KEYS: o.secretKeys,
    },
    cwd: REPO_ROOT,
    // The registration API binds last (after the HTTP port and the registry): ready when it accepts.
    ready: { port: apiPort },
    readyTimeoutMs: 30_000,
  });
  return {
    ...r,
    xdsPort,
    apiPort,
    httpPort,
    streams: async () => {
      try {
        const text = await (
          await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(2000) })
        ).text();
        let n = 0;
        for (const m of text.matchAll(/^sessiongate_xds_streams(?:\{[^}]*\})? (\d+)/gm)) n += Number(m[1]);
        return n;
      } catch {
        return -1;
      }
    },
  };
}
