// Backoff between failed refreshes of one session, shared by every BFF replica
// through Redis (s:{<idHash>}:retry). Without it a refresh that fails (the OP
// down, slow, answering 5xx or garbage) is tried again on every call for the
// session once it is due — at capacity, hundreds a second — and when the OP
// comes back every due session hits it at once. With it the n-th failure in a
// row waits min(max, base·2^(n-1)), jittered to between half and all of that
// so that sessions that failed together do not retry together. Meanwhile the
// still-valid token is served, and once it has expired the call fails closed
// (idp_unavailable) without asking the OP.
import type { RefreshBackoff } from "../session/store.js";
import type { RefreshSettings } from "./context.js";

/** Delay (ms) after the `failures`-th failed refresh in a row; `random` in [0, 1). */
export function backoffDelayMs(r: RefreshSettings, failures: number, random = Math.random()): number {
  const full = Math.min(r.backoffMaxMs, r.backoffMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(full / 2 + (full / 2) * random);
}

/** The session is waiting out a failed refresh now. */
export function backingOff(b: RefreshBackoff | null, now = Date.now()): boolean {
  return b !== null && b.retryAt > now;
}

/**
 * How long the failure count is kept after the retry time: a failure within
 * this of the last retry counts as "in a row" (the delay grows); later ones
 * start again at `backoffMs`.
 */
export function failureMemoryMs(r: RefreshSettings): number {
  return 2 * r.backoffMaxMs;
}
