// What a benchmark group gets (context) and gives back (result).
import type { LoadRecord, Tool } from "./preflight.js";
import type { Progress } from "./progress.js";
import type { Sample } from "./stats.js";

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

export interface Goal {
  name: string;
  /** e.g. "<= 1.10" */
  target: string;
  /** The measured median (and range) as text. */
  measured: string;
  met: boolean | null;
}

export interface Bar {
  label: string;
  sample: Sample;
}

export interface ChartSpec {
  title: string;
  /** One panel per metric, e.g. requests/s and p50. */
  panels: { metric: string; unit: string; bars: Bar[] }[];
}

export interface GroupResult {
  group: string;
  title: string;
  /** What ran behind it, fallbacks taken, caveats: shown under the tables. */
  notes: string[];
  /** Every figure, flat: "<what>.<metric>" -> sample. */
  figures: Record<string, Sample>;
  tables: Table[];
  goals: Goal[];
  chart?: ChartSpec;
  /** Set when the group could not run (missing piece); figures then empty. */
  skipped?: string;
  durationS?: number;
  /** The 1-minute load average before and after the group, and whether that makes it noisy. */
  load?: LoadRecord;
}

export interface CpuPlan {
  /** CPU list for Envoy (the system under test), e.g. "0"; "" = no pinning. */
  envoy: string;
  /** CPU list for the load generator and the helpers behind Envoy. */
  load: string;
}

export interface BenchOptions {
  quick: boolean;
  /** Repetitions per measurement. */
  reps: number;
  /** Seconds per wrk measurement. */
  durationS: number;
}

export interface BenchContext {
  opts: BenchOptions;
  cpus: CpuPlan;
  progress: Progress;
  /** Free-text log line (goes to stderr above the progress line). */
  log(msg: string): void;
  /** Values shared between groups (e.g. the BFF stack), started once. */
  shared: Map<string, unknown>;
}

export interface BenchGroup {
  name: string;
  title: string;
  /** Rough wall-clock estimate in seconds, for the ETA. */
  estimateS(opts: BenchOptions): number;
  /** Tools checked before the run starts (missing ones fail it at once, with how to get them). */
  tools: Tool[];
  run(ctx: BenchContext): Promise<GroupResult>;
}
