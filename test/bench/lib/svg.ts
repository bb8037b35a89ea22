// A dependency-free SVG bar chart: one panel per metric, one horizontal bar per
// variant (the median), a whisker for min–max, the value written at the end.

import { fmt } from "./stats.js";
import type { ChartSpec } from "./types.js";

const COLORS = ["#7f7f7f", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"];

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A generous width estimate of `text` at 12px sans-serif (no font metrics here): wide enough that labels never overlap the bars. */
export function textWidth(text: string, px = 12): number {
  return Math.ceil(text.length * px * 0.6);
}

/** Splits `text` into lines of at most `max` characters, at " · " or spaces where it can. */
export function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let rest = text.trim();
  while (rest.length > max) {
    let cut = rest.lastIndexOf(" · ", max);
    if (cut <= 0) cut = rest.lastIndexOf(" ", max);
    if (cut <= 0) cut = max;
    lines.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).replace(/^\s*·?\s*/, "");
  }
  if (rest) lines.push(rest);
  return lines;
}

export function renderChart(spec: ChartSpec, subtitle = ""): string {
  const width = 760;
  // The label column grows with the longest label, so no label runs into its bar.
  const labelW = Math.min(
    360,
    Math.max(120, ...spec.panels.flatMap((p) => p.bars.map((b) => textWidth(b.label) + 16))),
  );
  const valueW = 110;
  const barH = 22;
  const gap = 8;
  const panelHead = 28;
  const subLines = wrap(subtitle, Math.floor((width - 20) / (11 * 0.6)));
  const top = 40 + subLines.length * 14 + (subLines.length ? 2 : 0);
  const plotW = width - labelW - valueW - 20;
  let y = top;
  const parts: string[] = [];
  for (const panel of spec.panels) {
    parts.push(
      `<text x="10" y="${y + 18}" font-size="14" font-weight="bold">${esc(panel.metric)} (${esc(panel.unit)})</text>`,
    );
    y += panelHead;
    const maxV = Math.max(...panel.bars.map((b) => (Number.isFinite(b.sample.max) ? b.sample.max : 0)), 1e-9);
    panel.bars.forEach((b, i) => {
      const color = COLORS[i % COLORS.length];
      const s = b.sample;
      const w = Number.isFinite(s.median) ? (s.median / maxV) * plotW : 0;
      const x0 = labelW;
      parts.push(
        `<text x="${labelW - 8}" y="${y + barH * 0.7}" font-size="12" text-anchor="end">${esc(b.label)}</text>`,
      );
      parts.push(
        `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}" opacity="0.85"><title>${esc(
          `${b.label}: median ${fmt(s.median)} ${panel.unit} (min ${fmt(s.min)}, max ${fmt(s.max)}, ${s.reps.length} reps)`,
        )}</title></rect>`,
      );
      if (Number.isFinite(s.min) && Number.isFinite(s.max) && s.reps.length > 1) {
        const xa = x0 + (s.min / maxV) * plotW;
        const xb = x0 + (s.max / maxV) * plotW;
        const ym = y + barH / 2;
        parts.push(
          `<path d="M${xa.toFixed(1)} ${ym}H${xb.toFixed(1)}M${xa.toFixed(1)} ${ym - 5}V${ym + 5}M${xb.toFixed(1)} ${ym - 5}V${ym + 5}" stroke="#222" stroke-width="1.5" fill="none"/>`,
        );
      }
      parts.push(
        `<text x="${x0 + plotW + 8}" y="${y + barH * 0.7}" font-size="12">${esc(
          Number.isFinite(s.median) ? `${fmt(s.median)} ${panel.unit}` : "n/a",
        )}</text>`,
      );
      y += barH + gap;
    });
    y += 12;
  }
  const height = y + 10;
  const head = [
    `<text x="10" y="24" font-size="16" font-weight="bold">${esc(spec.title)}</text>`,
    ...subLines.map(
      (line, i) => `<text x="10" y="${44 + i * 14}" font-size="11" fill="#555">${esc(line)}</text>`,
    ),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...head,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
