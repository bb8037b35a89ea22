// The bad-input campaigns (test/badinput/campaigns.ts, written separately) run
// as part of the chaos report when that file exists; when it does not, the
// report says so instead of leaving the rows out silently.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Goal } from "../../bench/lib/types.js";

export const CAMPAIGNS_FILE = join(import.meta.dirname, "..", "..", "badinput", "campaigns.ts");

type Campaign = (o: { n: number; log?: (m: string) => void }) => Promise<unknown> | unknown;

export interface CampaignResult {
  name: string;
  fn: string;
  n: number;
  durationS: number;
  /** The plain figure object the campaign returned. */
  figures?: unknown;
  error?: string;
}

export interface BadInputResult {
  available: boolean;
  note: string;
  campaigns: CampaignResult[];
  goals: Goal[];
}

export const CAMPAIGNS = [
  { name: "registration API", fn: "runRegistrationCampaign", full: 10_000, quick: 1_000, unit: "calls" },
  {
    name: "gateway headers",
    fn: "runHeaderFuzzCampaign",
    full: 1_000_000,
    quick: 100_000,
    unit: "header sets",
  },
] as const;

/**
 * Goals from a campaign's figures: no broken property (`violationCount`, as
 * test/badinput/figures.ts reports it), or goals it states itself
 * (`goals: [{name, target, measured, met}]`, a top-level boolean `ok` / `met`).
 */
function statedGoals(name: string, figures: unknown): Goal[] {
  if (!figures || typeof figures !== "object") return [];
  const f = figures as Record<string, unknown>;
  const goals: Goal[] = [];
  if (typeof f.violationCount === "number")
    goals.push({
      name: `${name}: broken properties`,
      target: "0",
      measured: `${f.violationCount} of ${typeof f.n === "number" ? f.n.toLocaleString("en-US") : "?"} inputs`,
      met: f.violationCount === 0,
    });
  if (Array.isArray(f.goals))
    goals.push(
      ...f.goals
        .filter((g): g is Goal => Boolean(g) && typeof g === "object" && "name" in g && "met" in g)
        .map((g) => ({ ...g, name: `${name}: ${g.name}` })),
    );
  for (const k of ["ok", "met"] as const)
    if (typeof f[k] === "boolean")
      goals.push({
        name: `${name}: campaign verdict`,
        target: "true",
        measured: String(f[k]),
        met: f[k] as boolean,
      });
  return goals;
}

export async function runBadInput(quick: boolean, log: (m: string) => void): Promise<BadInputResult> {
  if (!existsSync(CAMPAIGNS_FILE)) {
    const note =
      "test/badinput/campaigns.ts does not exist in this tree: the bad-input campaigns (10,000 registration calls, 1,000,000 header sets) were not run.";
    log(`badinput: ${note}`);
    return { available: false, note, campaigns: [], goals: [] };
  }
  const mod = (await import(pathToFileURL(CAMPAIGNS_FILE).href)) as Record<string, unknown>;
  const campaigns: CampaignResult[] = [];
  const goals: Goal[] = [];
  for (const c of CAMPAIGNS) {
    const n = quick ? c.quick : c.full;
    const fn = mod[c.fn] as Campaign | undefined;
    if (typeof fn !== "function") {
      const error = `test/badinput/campaigns.ts exports no function ${c.fn}`;
      campaigns.push({ name: c.name, fn: c.fn, n, durationS: 0, error });
      goals.push({ name: `${c.name}: campaign ran`, target: "yes", measured: error, met: false });
      continue;
    }
    log(`badinput: ${c.fn}({ n: ${n.toLocaleString("en-US")} }) — ${c.unit}`);
    const t0 = Date.now();
    try {
      const figures = await fn({ n, log: (m) => log(`badinput:   ${m}`) });
      const durationS = (Date.now() - t0) / 1000;
      log(`badinput: ${c.fn} done in ${durationS.toFixed(1)} s`);
      campaigns.push({ name: c.name, fn: c.fn, n, durationS, figures });
      goals.push(...statedGoals(c.name, figures));
    } catch (err) {
      const error = (err as Error).message.split("\n")[0];
      log(`badinput: ${c.fn} FAILED: ${error}`);
      campaigns.push({ name: c.name, fn: c.fn, n, durationS: (Date.now() - t0) / 1000, error });
      goals.push({
        name: `${c.name}: campaign ran`,
        target: "yes",
        measured: `failed: ${error}`,
        met: false,
      });
    }
  }
  const sizes = CAMPAIGNS.map((c) => `${(quick ? c.quick : c.full).toLocaleString("en-US")} ${c.unit}`).join(
    ", ",
  );
  const note = quick
    ? `Quick run, smaller campaigns: ${sizes} (the full run: 10,000 calls, 1,000,000 header sets).`
    : `Full run: ${sizes}.`;
  return { available: true, note, campaigns, goals };
}

/**
 * A campaign's figure object as (figure, value) rows, nested keys joined with
 * dots; lists of strings (e.g. the violations) go to `lists`, one line each.
 */
export function figureRows(
  figures: unknown,
  prefix = "",
  lists: [string, string[]][] = [],
): { rows: [string, string][]; lists: [string, string[]][] } {
  if (figures === null || typeof figures !== "object")
    return { rows: [[prefix || "result", String(figures)]], lists };
  const rows: [string, string][] = [];
  for (const [k, v] of Object.entries(figures as Record<string, unknown>)) {
    if (k === "goals") continue;
    const key = prefix ? `${prefix}.${k}` : k;
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) {
      rows.push([key, v.length ? `${v.length} listed below` : "none"]);
      if (v.length) lists.push([key, v as string[]]);
    } else if (v !== null && typeof v === "object" && !Array.isArray(v))
      rows.push(...figureRows(v, key, lists).rows);
    else if (typeof v === "number")
      rows.push([key, Number.isInteger(v) ? v.toLocaleString("en-US") : String(Number(v.toPrecision(4)))]);
    else rows.push([key, Array.isArray(v) ? JSON.stringify(v).slice(0, 200) : String(v)]);
  }
  return { rows, lists };
}
