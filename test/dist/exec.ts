// Child processes for the distribution tests: a command's exit code and output,
// with its stderr passed through as progress (npm pack, go builds, helm).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; input?: string; progress?: boolean } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => {
      stderr += d;
      if (opts.progress) process.stderr.write(d);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.on("error", (e) => resolve({ code: -1, stdout, stderr: `${stderr}${cmd}: ${e.message}` }));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export const sha256File = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

export async function tarList(tarball: string): Promise<string[]> {
  const r = await run("tar", ["-tzf", tarball]);
  if (r.code !== 0) throw new Error(`tar -tzf ${tarball}: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}
