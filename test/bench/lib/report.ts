// Writes one run's results: latest.json (every figure, machine info, command
// line), latest.md (tables) and latest.svg (the Envoy comparison chart).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MachineInfo } from "./machine.js";
import { renderChart } from "./svg.js";
import type { GroupResult, Table } from "./types.js";

export interface RunReport {
  schema: "sessiongate-bench/1";
  machine: MachineInfo;
  options: { quick: boolean; reps: number; durationS: number; only: string[] };
  durationS: number;
  groups: GroupResult[];
}

export function mdTable(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines = [
    `| ${t.columns.map(esc).join(" | ")} |`,
    `|${t.columns.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...t.rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ];
  return lines.join("\n");
}

export function renderMarkdown(r: RunReport): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# sessiongate benchmarks — ${r.options.quick ? "quick" : "full"} run`);
  out.push("");
  out.push(`Command: \`${m.command}\` — ${m.date}, ${Math.round(r.durationS)} s.`);
  out.push("");
  out.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryMiB} MiB; ${m.os}; Node ${m.node}; Envoy ${m.envoy}; wrk ${m.wrk}; Redis ${m.redis}; commit ${m.gitCommit}${m.gitDirty ? " (with uncommitted changes)" : ""}. Load average at start: ${m.loadAvg.join(" / ")}.`,
  );
  out.push("");
  out.push(
    `Every figure is median (min–max) over ${r.options.reps} repetitions; ratios are taken per repetition against the baseline measured in the same repetition.`,
  );
  const goals = r.groups.flatMap((g) => g.goals);
  if (goals.length) {
    out.push("", "## Goals", "");
    out.push(
      mdTable({
        title: "goals",
        columns: ["goal", "target", "measured", "met"],
        rows: goals.map((g) => [
          g.name,
          g.target,
          g.measured,
          g.met === null ? "n/a" : g.met ? "yes" : "**no**",
        ]),
      }),
    );
  }
  for (const g of r.groups) {
    out.push("", `## ${g.title}`, "");
    if (g.load)
      out.push(
        `Load average (1 min): ${g.load.before} before, ${g.load.after} after (${g.load.cores} cores)${g.load.noisy ? " — **noisy run**" : ""}.`,
        "",
      );
    if (g.skipped) {
      out.push(`Not measured: ${g.skipped}`);
      continue;
    }
    for (const t of g.tables) {
      out.push(`**${t.title}**`, "", mdTable(t), "");
    }
    if (g.chart) out.push("![Envoy side by side](latest.svg)", "");
    for (const n of g.notes) out.push(`- ${n}`);
  }
  out.push("");
  return out.join("\n");
}

export function writeReport(dir: string, r: RunReport): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, "latest.json"), join(dir, "latest.md")];
  writeFileSync(
    files[0],
    `${JSON.stringify(r, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
  writeFileSync(files[1], renderMarkdown(r));
  const chart = r.groups.find((g) => g.chart)?.chart;
  if (chart) {
    const file = join(dir, "latest.svg");
    const sub = `${r.machine.cpuModel}, ${r.machine.cores} cores · Envoy ${r.machine.envoy} --concurrency 1 · ${r.machine.command} · ${r.machine.date}`;
    writeFileSync(file, renderChart(chart, sub));
    files.push(file);
  }
  return files;
}
