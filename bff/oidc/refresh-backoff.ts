// Backoff between failed refreshes of one session, shared by every BFF replica
// through Redis (s:{<idHash>}:retry). Without it a refresh that fails (the OP
// down, slow, answering 5xx or garbage) is tried again on every call for the
// session once it is due — at capacity, hundreds a second — and when the OP
// comes back every due session hits it at once. With it the n-th failure in a
// row waits min(max, base·2^(n-1)), jittered to between half and all of that
// so that sessions that failed together do not retry together — but never past
// a last attempt shortly before the token expires, so a session whose OP came
// back is not left to expire waiting; after that (the token about to expire or
// expired) the first delay again, as each wait is an outage for the user. Meanwhile the still-valid token is
// served, and once it has expired the call fails closed (idp_unavailable)
// without asking the OP.
import type { RefreshBackoff } from "../session/store.js";
import type { RefreshSettings } from "./context.js";

/** Delay (ms) after the `failures`-th failed refresh in a row; `random` in [0, 1). */
export function backoffDelayMs(r: RefreshSettings, failures: number, random = Math.random()): number {
  const full = Math.min(r.backoffMaxMs, r.backoffMs * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(full / 2 + (full / 2) * random);
}

/** The last attempt is made this long before the token expires (before the filter stops caching it). */
export const LAST_CHANCE_MS = 3000;

/** When the next refresh may be tried after the `failures`-th failure in a row, for a token expiring at `expiresAt`. */
export function nextAttemptAt(
  r: RefreshSettings,
  failures: number,
  expiresAt: number,
  now = Date.now(),
  random = Math.random(),
): number {
  const lastChance = expiresAt - LAST_CHANCE_MS;
  // Past the last chance every wait is an outage for the user: retry at the first delay.
  if (now >= lastChance) return now + backoffDelayMs(r, 1, random);
  const at = now + backoffDelayMs(r, failures, random);
  return at > lastChance ? lastChance : at;
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
