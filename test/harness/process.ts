import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import { connect } from "node:net";
import { logPath, onCleanup } from "./cleanup.js";
import { StopWaiting, waitFor } from "./ports.js";

export type Ready = { url: string; status?: number } | { log: RegExp } | { port: number } | undefined;

export interface ProcessOptions {
  name: string;
  cmd: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  ready?: Ready;
  readyTimeoutMs?: number;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
  /** Log output so far. */
  log(): string;
  exited(): boolean;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL at once (for fault tests). */
  kill(): Promise<void>;
}

export async function startProcess(opts: ProcessOptions): Promise<ManagedProcess> {
  const logFile = logPath(opts.name);
  const out = createWriteStream(logFile);
  const child = spawn(opts.cmd, opts.args ?? [], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let exitCode: number | null | undefined;
  const exitedP = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exitCode = code ?? (signal ? -1 : 0);
      resolve();
    });
    child.once("error", (err) => {
      out.write(`\nharness: spawn failed: ${err.message}\n`);
      exitCode = -2;
      resolve();
    });
  });
  const terminate = async (signal: NodeJS.Signals, graceMs: number) => {
    if (exitCode !== undefined) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exitedP;
    clearTimeout(timer);
  };
  const unregister = onCleanup(
    () => terminate("SIGTERM", 3000),
    () => child.kill("SIGKILL"),
  );
  const readLog = () => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  const proc: ManagedProcess = {
    name: opts.name,
    pid: child.pid ?? -1,
    logFile,
    child,
    log: readLog,
    exited: () => exitCode !== undefined,
    stop: async () => {
      await terminate("SIGTERM", 3000);
      unregister();
    },
    kill: async () => {
      await terminate("SIGKILL", 0);
      unregister();
    },
  };
  if (opts.ready) {
    const ready = opts.ready;
    try {
      await waitFor(
        `${opts.name} to be ready`,
        async () => {
          if (exitCode !== undefined) {
            throw new StopWaiting(
              `${opts.name} exited (code ${exitCode}) before it was ready; log ${logFile}`,
            );
          }
          return isReady(ready, readLog);
        },
        opts.readyTimeoutMs ?? 30_000,
      );
    } catch (err) {
      const tail = readLog().split("\n").slice(-30).join("\n");
      await proc.kill();
      throw new Error(`${(err as Error).message}\n--- last lines of ${logFile} ---\n${tail}`);
    }
  }
  return proc;
}

async function isReady(ready: NonNullable<Ready>, readLog: () => string): Promise<boolean> {
  if ("url" in ready) {
    const res = await fetch(ready.url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return ready.status ? res.status === ready.status : res.ok;
  }
  if ("log" in ready) return ready.log.test(readLog());
  return new Promise((resolve) => {
    const s = connect(ready.port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
