// Repetition summaries: every figure is reported as min / median / max over
// the repetitions of one run, and ratios are taken per repetition (the same
// repetition of the baseline and the candidate ran back to back), then summarised.

export interface Sample {
  unit: string;
  min: number;
  median: number;
  max: number;
  /** Every repetition, in the order they ran. */
  reps: number[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(reps: number[], unit: string): Sample {
  const finite = reps.filter((x) => Number.isFinite(x));
  if (finite.length === 0) return { unit, min: Number.NaN, median: Number.NaN, max: Number.NaN, reps };
  return { unit, min: Math.min(...finite), median: median(finite), max: Math.max(...finite), reps };
}

/** Per-repetition ratio num[i] / den[i], summarised. Lengths must match. */
export function ratio(num: Sample, den: Sample): Sample {
  if (num.reps.length !== den.reps.length) throw new Error("ratio: repetition counts differ");
  return summarize(
    num.reps.map((x, i) => x / den.reps[i]),
    "x",
  );
}

/** Percentile (0..100) of an unsorted list, nearest-rank. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}

/** Compact number for tables: 3 significant digits, thousands separated. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return "n/a";
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString("en-US");
  if (abs === 0) return "0";
  return Number(x.toPrecision(digits)).toString();
}

/** "median (min–max)" for a Markdown cell. */
export function cell(s: Sample | undefined, digits = 3): string {
  if (!s) return "n/a";
  if (s.reps.length <= 1) return fmt(s.median, digits);
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}
