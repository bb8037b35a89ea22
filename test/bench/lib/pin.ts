// CPU pinning with taskset: Envoy on its own core, the load generator and the
// helpers (BFF, Redis, token server) on the other(s). Best effort: on a
// one-core machine nothing is pinned, and that is recorded in the report.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import type { CpuPlan } from "./types.js";

export function cpuPlan(n = cpus().length): CpuPlan {
  if (n < 2) return { envoy: "", load: "" };
  return { envoy: "0", load: n === 2 ? "1" : `1-${n - 1}` };
}

/** Pins every thread of `pid` (taskset -a). Returns false when it could not. */
export function pin(pid: number, list: string): boolean {
  if (!list || pid <= 0) return false;
  const r = spawnSync("taskset", ["-a", "-pc", list, String(pid)], { encoding: "utf8" });
  return r.status === 0;
}

/** A direct child of this process whose command line contains `comm` and `arg`. */
export function childPidByArg(comm: string, arg: string): number {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // Redis rewrites its process title ("redis-server 127.0.0.1:<port>"), so
      // match substrings of the whole command line, not exact arguments.
      const cmdline = readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0/g, " ");
      if (!cmdline.includes(comm) || !cmdline.includes(arg)) continue;
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) return Number(d);
    } catch {
      // the process went away meanwhile
    }
  }
  return -1;
}

/** User+system CPU seconds of a process so far (from /proc/<pid>/stat). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(f[11]) + Number(f[12]);
  return ticks / 100;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}
