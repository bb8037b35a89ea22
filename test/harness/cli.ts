import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./envoy.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `sessiongate` bin (bin/sessiongate.js) from the repo root. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, "bin/sessiongate.js"), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
