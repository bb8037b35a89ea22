// Checks, before anything starts, that every tool the selected groups need is
// there, so a missing one fails the run in its first second with how to get it
// (not after minutes of set-up). Also: the load average around each group, so
// a run measured on a busy machine says so.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { envoyBin } from "../../harness/index.js";
import { oauth2ProxyBin } from "./peers.js";

export type Tool = "wrk" | "taskset" | "redis-server" | "envoy" | "oauth2-proxy";

function onPath(cmd: string, hint: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? null : `${cmd} not found on PATH: ${hint}`;
}

const CHECKS: Record<Tool, () => string | null> = {
  wrk: () => onPath("wrk", "install Debian's wrk (`apt-get install wrk`; `bash .ci/run` does)"),
  taskset: () => onPath("taskset", "install Debian's util-linux"),
  "redis-server": () => {
    const bin = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";
    return existsSync(bin)
      ? null
      : `redis-server not found at ${bin}: install Debian's redis-server (\`bash .ci/run\` does) or set REDIS_SERVER_BIN`;
  },
  envoy: () => {
    try {
      envoyBin();
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  },
  "oauth2-proxy": () => {
    try {
      oauth2ProxyBin();
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  },
};

/** Every missing tool among `tools`, each with how to get it (empty: all there). */
export function missingTools(tools: Iterable<Tool>): string[] {
  const out: string[] = [];
  for (const t of new Set(tools)) {
    const problem = CHECKS[t]();
    if (problem) out.push(problem);
  }
  return out;
}

export interface LoadRecord {
  /** 1-minute load average before and after the group. */
  before: number;
  after: number;
  cores: number;
  /** Whether other work was likely running: see NOISY_NOTE. */
  noisy: boolean;
}

export const NOISY_NOTE =
  "noisy = the 1-minute load average was above half the cores before the group started, or above the cores + 1 after it (the bench itself keeps at most every core busy): other work shared the machine, so absolute figures are not comparable with a quiet run (same-run ratios still are, roughly).";

export function load1(): number {
  return Math.round(loadavg()[0] * 100) / 100;
}

export function loadRecord(before: number, after: number, cores = cpus().length): LoadRecord {
  return { before, after, cores, noisy: before > cores / 2 || after > cores + 1 };
}
