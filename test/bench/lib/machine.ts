// Machine and version facts recorded with every result, so two reports can be
// compared knowing what they ran on.
import { spawnSync } from "node:child_process";
import { cpus, freemem, loadavg, platform, release, totalmem } from "node:os";
import { REPO_ROOT } from "../../harness/index.js";

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryMiB: number;
  freeMemoryMiB: number;
  loadAvg: number[];
  os: string;
  node: string;
  envoy: string;
  wrk: string;
  redis: string;
  gitCommit: string;
  gitDirty: boolean;
  command: string;
}

function out(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: "utf8", timeout: 10_000 });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
}

export function machineInfo(envoyBin: string, argv: string[]): MachineInfo {
  const c = cpus();
  const envoyV = /version:\s*(\S+)/.exec(out(envoyBin, ["--version"]))?.[1] ?? "unknown";
  const wrkV = /wrk (\S+)/.exec(out("wrk", ["--version"]))?.[1] ?? "unknown";
  const redisV = /v=(\S+)/.exec(out("redis-server", ["--version"]))?.[1] ?? "unknown";
  return {
    date: new Date().toISOString(),
    cpuModel: c[0]?.model?.trim() ?? "unknown",
    cores: c.length,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    freeMemoryMiB: Math.round(freemem() / 2 ** 20),
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    os: `${platform()} ${release()}`,
    node: process.version,
    envoy: envoyV,
    wrk: wrkV,
    redis: redisV,
    gitCommit: out("git", ["rev-parse", "--short=12", "HEAD"]) || "unknown",
    gitDirty: out("git", ["status", "--porcelain"]).length > 0,
    command: ["npm run bench", ...(argv.length ? ["--", ...argv] : [])].join(" "),
  };
}
