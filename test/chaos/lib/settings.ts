// Run lengths and stack settings of the full and the quick run, in one place
// (the run, the report and the vitest smoke test use the same ones).
import type { Timing } from "./scenario.js";
import type { StackOptions } from "./stack.js";

export const TIMING: Record<"full" | "quick", Timing> = {
  full: {
    baselineS: 4,
    holdS: 8,
    opHoldS: 12,
    postS: 10,
    recoverDeadlineS: 30,
    workers: 4,
    intervalMs: 20,
  },
  quick: {
    baselineS: 2,
    holdS: 4,
    opHoldS: 8,
    postS: 6,
    recoverDeadlineS: 20,
    workers: 4,
    intervalMs: 20,
  },
};

/**
 * Access tokens live 16 s and the BFF refreshes 10 s before expiry, so each
 * session's token comes due every ~6 s; the filter caches a token for at most
 * 2 s, so faults behind the filter show within 2 s instead of hiding behind
 * the cache (the default bound is 30 s).
 */
export function stackOptions(quick: boolean, log: (m: string) => void): StackOptions {
  return { sessions: quick ? 4 : 8, tokenTtlS: 16, refreshSkewS: 10, cacheMaxTtlS: 2, log };
}
