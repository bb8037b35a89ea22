// One registry of everything a test file started, so that it is stopped even
// when the test fails, and logs are kept only when something failed.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

type Stopper = () => Promise<void> | void;

const stoppers: Stopper[] = [];
const syncKills = new Set<() => void>();
const logFiles: string[] = [];

export const LOG_DIR = join(import.meta.dirname, "..", ".logs");

export function logPath(name: string): string {
  mkdirSync(LOG_DIR, { recursive: true });
  const file = join(LOG_DIR, `${name}-${process.pid}-${Date.now().toString(36)}.log`);
  logFiles.push(file);
  return file;
}

/** Registers a stopper; returns a function that unregisters it (for explicit stops). */
export function onCleanup(stop: Stopper, syncKill?: () => void): () => void {
  stoppers.push(stop);
  if (syncKill) syncKills.add(syncKill);
  return () => {
    const i = stoppers.indexOf(stop);
    if (i >= 0) stoppers.splice(i, 1);
    if (syncKill) syncKills.delete(syncKill);
  };
}

export async function stopAll(keepLogs: boolean): Promise<void> {
  const pending = stoppers.splice(0).reverse();
  for (const stop of pending) {
    try {
      await stop();
    } catch {
      // Best effort: one stuck process must not keep the others running.
    }
  }
  syncKills.clear();
  if (keepLogs) {
    if (logFiles.length) process.stderr.write(`harness: logs kept:\n  ${logFiles.join("\n  ")}\n`);
  } else {
    for (const f of logFiles) rmSync(f, { force: true });
  }
  logFiles.length = 0;
}

// A worker that exits without afterAll (crash, timeout) must not leave
// redis-server or envoy behind.
process.on("exit", () => {
  for (const kill of syncKills) {
    try {
      kill();
    } catch {
      // already gone
    }
  }
});
