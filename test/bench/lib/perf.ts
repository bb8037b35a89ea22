// `perf record` on one process while a bench runs, summarised as the share of
// samples per shared object (Envoy's binary is stripped, so no function names).
import { spawn, spawnSync } from "node:child_process";

/**
 * Records `pid` for `seconds` at `hz` samples a second into `out`, then resolves
 * to the top 12 shared objects by samples (or why perf could not record).
 */
export function startPerf(pid: number, seconds: number, out: string, hz: number): Promise<string> {
  return new Promise((resolve) => {
    const rec = spawn(
      "perf",
      ["record", "-F", String(hz), "-g", "-p", String(pid), "-o", out, "--", "sleep", String(seconds)],
      { stdio: "ignore" },
    );
    rec.on("error", (err) => resolve(`perf record failed: ${err.message}`));
    rec.on("exit", () => {
      const r = spawnSync("perf", ["report", "-i", out, "--sort", "dso", "--stdio", "--no-children"], {
        encoding: "utf8",
      });
      const lines = (r.stdout ?? "").split("\n").filter((l) => /^\s+\d+\.\d+%/.test(l));
      resolve(`${lines.slice(0, 12).join("\n")}\n(${out})\n`);
    });
  });
}
