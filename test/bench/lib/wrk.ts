// Runs Debian's wrk (pinned with taskset to the load CPUs) and parses the JSON
// line our Lua done() hook prints. A run with non-2xx answers or socket errors
// above a small tolerance is an error: a fast 401 is not a result.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface WrkOptions {
  url: string;
  connections: number;
  durationS: number;
  threads?: number;
  headers?: Record<string, string>;
  /** Extra Lua (e.g. a request() that varies the session cookie); done() is ours. */
  lua?: string;
  /** CPU list for taskset; "" = unpinned. */
  cpus?: string;
  timeoutS?: number;
  /** Fraction of failed requests tolerated (default 0.001). */
  maxErrorRate?: number;
}

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  errors: number;
  statusErrors: number;
}

const REPORT_LUA = readFileSync(join(import.meta.dirname, "wrk-report.lua"), "utf8");
let scriptDir: string | undefined;
let scriptSeq = 0;

export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (!line) throw new Error(`wrk printed no WRKJSON line:\n${stdout.slice(-2000)}`);
  const j = JSON.parse(line.slice(8)) as Record<string, number>;
  const durationS = j.duration_us / 1e6;
  const errors = j.connect_errors + j.read_errors + j.write_errors + j.status_errors + j.timeouts;
  return {
    requests: j.requests,
    durationS,
    rps: durationS > 0 ? j.requests / durationS : 0,
    p50Ms: j.p50_us / 1000,
    p90Ms: j.p90_us / 1000,
    p99Ms: j.p99_us / 1000,
    maxMs: j.max_us / 1000,
    meanMs: j.mean_us / 1000,
    errors,
    statusErrors: j.status_errors,
  };
}

export function wrkArgs(o: WrkOptions, script: string): { cmd: string; args: string[] } {
  const wrk = [
    "wrk",
    "-t",
    String(o.threads ?? 1),
    "-c",
    String(o.connections),
    "-d",
    `${o.durationS}s`,
    "--timeout",
    `${o.timeoutS ?? 5}s`,
    "-s",
    script,
  ];
  for (const [k, v] of Object.entries(o.headers ?? {})) wrk.push("-H", `${k}: ${v}`);
  wrk.push(o.url);
  return o.cpus ? { cmd: "taskset", args: ["-c", o.cpus, ...wrk] } : { cmd: wrk[0], args: wrk.slice(1) };
}

export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  scriptDir ??= mkdtempSync(join(tmpdir(), "sg-bench-wrk-"));
  const script = join(scriptDir, `s${scriptSeq++}.lua`);
  writeFileSync(script, `${o.lua ?? ""}\n${REPORT_LUA}`);
  const { cmd, args } = wrkArgs(o, script);
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    // wrk stops itself after -d; this is the bound if it hangs.
    const timer = setTimeout(() => child.kill("SIGKILL"), (o.durationS + 30) * 1000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`wrk exited ${code}: ${err}${out}`.slice(0, 3000)));
    });
  });
  const r = parseWrkOutput(stdout);
  const tol = o.maxErrorRate ?? 0.001;
  if (r.requests === 0) throw new Error(`wrk: no request completed against ${o.url}`);
  if (r.errors > Math.max(1, r.requests * tol)) {
    throw new Error(
      `wrk: ${r.errors} errors (${r.statusErrors} non-2xx/3xx) in ${r.requests} requests against ${o.url}: the setup is broken, not slow`,
    );
  }
  return r;
}
