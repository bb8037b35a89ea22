// Writes test/bench/results/chaos.json (every figure, the timelines' summaries,
// machine and command) and chaos.md (the tables), next to the benchmarks' latest.*.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MachineInfo } from "../../bench/lib/machine.js";
import { mdTable } from "../../bench/lib/report.js";
import { fmt } from "../../bench/lib/stats.js";
import type { Goal } from "../../bench/lib/types.js";
import { type BadInputResult, figureRows } from "./badinput.js";
import type { ClassFigures } from "./measure.js";
import type { ScenarioResult, Timing } from "./scenario.js";

export interface ChaosReport {
  schema: "sessiongate-chaos/1";
  machine: MachineInfo;
  options: { quick: boolean; only: string[]; rate: string; share: number };
  timing: Timing;
  stack: Record<string, string | number>;
  durationS: number;
  scenarios: ScenarioResult[];
  /** Scenarios that could not run to the end (exception), with the error. */
  failures: { name: string; error: string }[];
  /** Why the stack was started afresh between scenarios (a session left broken). */
  rebuilds: string[];
  badinput: BadInputResult | null;
  goals: Goal[];
}

const s1 = (ms: number | null) =>
  ms === null ? "**not recovered**" : ms === 0 ? "unaffected" : `${fmt(ms / 1000)} s`;
const cnt = (n: number) => n.toLocaleString("en-US");
const statuses = (c: ClassFigures) =>
  Object.entries(c.statuses)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${cnt(v)}`)
    .join(", ");

function summary(r: ChaosReport): string {
  return mdTable({
    title: "summary",
    columns: [
      "scenario",
      "load",
      "down s",
      "req/s",
      "p50 / p99 ms before · during · after",
      "sessions: served / refused / errored",
      "anonymous: as expected / refused / errored",
      "upstream without valid token",
      "sessions lost",
      "registrations lost",
      "recovery: sessions",
      "recovery: anonymous",
      "goals",
    ],
    rows: r.scenarios.map((s) => {
      const c = s.classes;
      const met = s.goals.filter((g) => g.met).length;
      const ph = s.phases;
      return [
        s.name,
        s.load.mode === "open"
          ? `open loop ${fmt(s.load.perS)}/s = ${fmt((100 * s.load.perS) / s.load.measuredPerS)}% of ${fmt(s.load.measuredPerS)}/s measured (load avg ${fmt(s.load.loadAvg1m)})${s.load.notSent ? `; ${cnt(s.load.notSent)} arrivals not sent (client queue full)` : ""}`
          : `paced, ${s.load.workers} × ${fmt(1000 / s.load.intervalMs)}/s`,
        fmt(s.downMs / 1000),
        fmt(s.requestsPerS),
        [ph.baseline, ph.fault, ph.after].map((p) => `${fmt(p.p50Ms)} / ${fmt(p.p99Ms)}`).join(" · "),
        `${cnt(c.session.ok)} / ${cnt(c.session.refused)} / ${cnt(c.session.errored)}`,
        `${cnt(c.anon.ok)} / ${cnt(c.anon.refused)} / ${cnt(c.anon.errored)}`,
        `${s.upstream.violations} of ${cnt(s.upstream.received)}`,
        `${s.sessions.lost.length} of ${s.sessions.total}`,
        s.registry.identical ? "0" : "**registry differs**",
        s1(s.classes.session.recoveryMs),
        s1(s.classes.anon.recoveryMs),
        met === s.goals.length ? `all ${met} met` : `**${s.goals.length - met} missed**`,
      ];
    }),
  });
}

function scenarioSection(s: ScenarioResult): string[] {
  const out = [
    `### ${s.name}: ${s.title}`,
    "",
    `${s.what}. Down for ${fmt(s.downMs / 1000)} s; scenario took ${fmt(s.durationS)} s.`,
    "",
  ];
  out.push(
    mdTable({
      title: s.name,
      columns: [
        "class",
        "requests",
        "expected answer",
        "refused",
        "errored",
        "answers by status",
        "recovery",
        "degraded for",
      ],
      rows: (["session", "anon"] as const).map((k) => {
        const c = s.classes[k];
        return [
          k === "session" ? "logged-in (cookie)" : "anonymous",
          cnt(c.requests),
          cnt(c.ok),
          cnt(c.refused),
          cnt(c.errored),
          statuses(c),
          s1(c.recoveryMs),
          `${fmt(c.degradedMs / 1000)} s`,
        ];
      }),
    }),
    "",
  );
  if (s.phases)
    out.push(
      mdTable({
        title: `${s.name} phases`,
        columns: [
          "phase",
          "answers",
          "per s",
          "p50 ms",
          "p99 ms",
          "max ms",
          "longest held by the gateway ms",
          "refused",
          "errored",
        ],
        rows: (["baseline", "fault", "after"] as const).map((k) => {
          const p = s.phases[k];
          return [
            k,
            cnt(p.requests),
            fmt(p.perS),
            fmt(p.p50Ms),
            fmt(p.p99Ms),
            fmt(p.maxMs),
            fmt(p.maxServiceMs),
            cnt(p.refused),
            cnt(p.errored),
          ];
        }),
      }),
      "",
      `- recovery: filter → BFF calls ${fmt(s.recovery.bffCallsPerSBefore)}/s before the fault, ${fmt(s.recovery.bffCallsPerSAfter)}/s in the ${fmt(s.recovery.windowS)} s after it; ${s.recovery.refreshesAfter} refresh attempts after it (steady state plus one per session: ${s.recovery.refreshesAllowed})`,
    );
  const figs = Object.entries(s.figures);
  if (figs.length)
    out.push(
      ...figs.map(
        ([k, v]) =>
          `- ${k}: ${typeof v === "number" ? (k.endsWith("Ms") ? `${fmt(v)} ms` : fmt(v)) : (v ?? "n/a")}`,
      ),
    );
  out.push(
    `- upstream: ${cnt(s.upstream.received)} requests, ${cnt(s.upstream.verified)} with a valid JWT, ${s.upstream.violations} without`,
  );
  if (s.upstream.violations) out.push(`- violations by reason: ${JSON.stringify(s.upstream.byReason)}`);
  if (s.cookieCleared)
    out.push(`- sessions whose cookie the gateway cleared (a 401 from the filter): ${s.cookieCleared}`);
  for (const n of s.notes) out.push(`- ${n}`);
  const missed = s.goals.filter((g) => !g.met);
  if (missed.length)
    out.push(...missed.map((g) => `- **missed**: ${g.name}: ${g.measured} (target ${g.target})`));
  out.push("");
  return out;
}

export function renderMarkdown(r: ChaosReport): string {
  const m = r.machine;
  const t = r.timing;
  const out: string[] = [
    `# sessiongate chaos run — ${r.options.quick ? "quick" : "full"}`,
    "",
    `Reproduce: \`${m.command}\` — ${m.date}, ${Math.round(r.durationS)} s.`,
    "",
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryMiB} MiB; ${m.os}; Node ${m.node}; Envoy ${m.envoy}; Redis ${m.redis}; commit ${m.gitCommit}${m.gitDirty ? " (with uncommitted changes)" : ""}. Load average at start: ${m.loadAvg.join(" / ")}.`,
    "",
    `Stack (real processes on 127.0.0.1): ${Object.entries(r.stack)
      .map(([k, v]) => `${k}: ${v}`)
      .join("; ")}.`,
    "",
    `Load: ${t.workers} keep-alive connections through Envoy, one request per ${t.intervalMs} ms each, cycling logged-in requests (cookie → upstream API, cookie → the BFF's session route) and anonymous ones (API without a cookie: the edge must answer 401; login start: 302). Per scenario: ${t.baselineS} s of load, the fault (held ${t.holdS} s; the OP ${t.opHoldS} s), ${t.postS} s of load after the component is back; then every session must work again within ${t.recoverDeadlineS} s.`,
    "",
    "Served = the expected answer; refused = 401/403/503 instead (failing closed); errored = no answer, another 5xx, or a 200 for the wrong user. Recovery = from the fault to the first expected answer after the last unexpected one in that class. The upstream verifies every request's JWT itself (RS256 against the OP's JWKS, issuer, audience, expiry) and counts any request without a valid one.",
    "",
    "## Goals",
    "",
  ];
  const missed = r.goals.filter((g) => !g.met);
  out.push(
    missed.length
      ? `${missed.length} of ${r.goals.length} goals missed:\n\n${mdTable({ title: "missed", columns: ["goal", "target", "measured", "met"], rows: missed.map((g) => [g.name, g.target, g.measured, "**no**"]) })}`
      : `All ${r.goals.length} goals met.`,
    "",
  );
  out.push("## Scenarios", "", summary(r), "");
  for (const f of r.failures) out.push(`- **${f.name} did not complete**: ${f.error}`);
  for (const why of r.rebuilds) out.push(`- the stack was started afresh: ${why}`);
  if (r.failures.length || r.rebuilds.length) out.push("");
  for (const s of r.scenarios) out.push(...scenarioSection(s));
  out.push("## Bad-input campaigns", "");
  if (!r.badinput) out.push("Not run (--only without badinput).");
  else {
    out.push(r.badinput.note, "");
    for (const c of r.badinput.campaigns) {
      out.push(
        `**${c.name}** — \`${c.fn}({ n: ${c.n.toLocaleString("en-US")} })\`, ${fmt(c.durationS)} s`,
        "",
      );
      if (c.error) out.push(`Failed: ${c.error}`, "");
      else {
        const { rows, lists } = figureRows(c.figures);
        out.push(mdTable({ title: c.name, columns: ["figure", "value"], rows }), "");
        for (const [key, items] of lists)
          out.push(`${key}:`, "", ...items.map((x) => `- \`${x.replace(/`/g, "'")}\``), "");
      }
    }
  }
  return `${out.join("\n")}\n`;
}

export function writeReport(dir: string, r: ChaosReport): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, "chaos.json"), join(dir, "chaos.md")];
  writeFileSync(
    files[0],
    `${JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  writeFileSync(files[1], renderMarkdown(r));
  return files;
}
