import { createServer } from "node:net";
import { budget } from "./slowness.js";

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Thrown by a probe to stop waiting at once (e.g. the process died). */
export class StopWaiting extends Error {}

/**
 * Polls `probe` until it resolves truthy. `idleTimeoutMs` is what an idle
 * machine needs; the wait gives up after that budget scaled by the machine's
 * measured slowness (./slowness.ts).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  idleTimeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const timeoutMs = budget(idleTimeoutMs);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const cause = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(
    `timed out after ${timeoutMs} ms (idle budget ${idleTimeoutMs} ms) waiting for ${what}${cause}`,
  );
}
