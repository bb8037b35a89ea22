// Time budgets in tests exist so that a hung wait fails instead of hanging
// forever; they must never fail a correct run because the machine is busy
// (CI shares its two cores with other work). Every budget is therefore the
// budget an idle machine needs times a slowness factor measured now: the
// run-queue length per core (1-minute load average), at least 1, at most 10.
// A bound that a test asserts (e.g. "refused within the cache's max_ttl_s")
// is measured and compared explicitly, never expressed as a budget.
import { availableParallelism, loadavg } from "node:os";

const MAX_FACTOR = 10;

/** How much slower than idle this machine is now (SESSIONGATE_SLOWNESS overrides). */
export function slowness(): number {
  const forced = Number(process.env.SESSIONGATE_SLOWNESS);
  if (Number.isFinite(forced) && forced >= 1) return Math.min(forced, MAX_FACTOR);
  const perCore = loadavg()[0] / availableParallelism();
  return Math.min(MAX_FACTOR, Math.max(1, perCore));
}

/** An idle-machine time budget (ms) scaled for the machine as it is now. */
export function budget(idleMs: number): number {
  return Math.round(idleMs * slowness());
}
