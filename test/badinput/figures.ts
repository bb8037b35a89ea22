// The plain result object every bad-input campaign returns: what was sent,
// how each input ended, and every broken property (capped, with the seed so
// the run can be repeated). `npm run chaos` prints these objects as they are.

export interface CampaignFigures {
  campaign: string;
  n: number;
  seed: number;
  /** Inputs per outcome class, e.g. "INVALID_ARGUMENT:hosts" or "local:403". */
  outcomes: Record<string, number>;
  /** Broken properties; the first MAX_LISTED are listed, `violationCount` counts all. */
  violations: string[];
  violationCount: number;
  durationMs: number;
  /** Campaign-specific extras (memory, host recreations, server health…). */
  extra: Record<string, number | string | boolean>;
}

export type Log = (msg: string) => void;

const MAX_LISTED = 25;

/** Accumulates outcomes and violations while a campaign runs. */
export class Tally {
  readonly outcomes: Record<string, number> = {};
  readonly violations: string[] = [];
  violationCount = 0;
  readonly extra: Record<string, number | string | boolean> = {};
  private readonly t0 = performance.now();

  constructor(
    readonly campaign: string,
    readonly n: number,
    readonly seed: number,
  ) {}

  count(outcome: string, by = 1): void {
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + by;
  }

  violation(what: string): void {
    this.violationCount++;
    if (this.violations.length < MAX_LISTED) this.violations.push(`${what} (seed ${this.seed})`);
  }

  figures(): CampaignFigures {
    return {
      campaign: this.campaign,
      n: this.n,
      seed: this.seed,
      outcomes: Object.fromEntries(Object.entries(this.outcomes).sort(([a], [b]) => a.localeCompare(b))),
      violations: [...this.violations],
      violationCount: this.violationCount,
      durationMs: Math.round(performance.now() - this.t0),
      extra: { ...this.extra },
    };
  }
}

/** A seed from the environment (BADINPUT_SEED) or the clock, so every run says which it used. */
export function pickSeed(seed?: number): number {
  if (seed !== undefined) return seed;
  const env = process.env.BADINPUT_SEED;
  return env ? Number(env) : Date.now() % 2 ** 31;
}

/** Calls `log` at most every `everyMs` with the share done. */
export function progress(log: Log | undefined, label: string, n: number, everyMs = 5000) {
  let last = performance.now();
  return (done: number) => {
    if (!log) return;
    const now = performance.now();
    if (now - last < everyMs && done !== n) return;
    last = now;
    log(`${label}: ${done.toLocaleString("en-US")}/${n.toLocaleString("en-US")}`);
  };
}

/** Compact JSON for messages (bigints as strings, long strings cut). */
export function show(v: unknown, max = 300): string {
  const s = JSON.stringify(v, (_k, x) => {
    if (typeof x === "bigint") return String(x);
    if (typeof x === "string" && x.length > 80) return `${x.slice(0, 60)}…(${x.length} chars)`;
    if (x instanceof Uint8Array) return `<${x.length} bytes>`;
    return x;
  });
  return s === undefined ? String(v) : s.length > max ? `${s.slice(0, max)}…` : s;
}
