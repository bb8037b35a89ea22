// Unit tests for the benchmark framework's pure parts (the benchmarks
// themselves are commands, not tests), plus one real wrk run against a
// loopback server so the Lua done() hook and the parser are checked together.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { distinctSessionLua } from "./groups/envoy-memory.js";
import { cookieHeader } from "./groups/wasm-host.js";
import { filterConfig, luaReferenceSource } from "./lib/envoy.js";
import { cpuPlan } from "./lib/pin.js";
import { loadRecord, missingTools } from "./lib/preflight.js";
import { Progress } from "./lib/progress.js";
import { mdTable, type RunReport, renderMarkdown } from "./lib/report.js";
import { cell, fmt, median, percentile, ratio, summarize } from "./lib/stats.js";
import { renderChart, textWidth, wrap } from "./lib/svg.js";
import { parseWrkOutput, runWrk, wrkArgs } from "./lib/wrk.js";

describe("stats", () => {
  it("summarises repetitions as min / median / max and keeps them", () => {
    const s = summarize([3, 1, 2, 10], "ms");
    expect(s).toEqual({ unit: "ms", min: 1, median: 2.5, max: 10, reps: [3, 1, 2, 10] });
    expect(median([5])).toBe(5);
    expect(summarize([], "x").median).toBeNaN();
  });

  it("takes ratios per repetition, not of medians", () => {
    const num = summarize([10, 20, 30], "req/s");
    const den = summarize([5, 40, 10], "req/s");
    const r = ratio(num, den);
    expect(r.reps).toEqual([2, 0.5, 3]);
    expect(r.median).toBe(2);
    expect(() => ratio(num, summarize([1], "x"))).toThrow(/repetition counts/);
  });

  it("percentile is nearest-rank", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });

  it("formats cells", () => {
    expect(fmt(12345.6)).toBe("12,346");
    expect(fmt(0.012345)).toBe("0.0123");
    expect(fmt(Number.NaN)).toBe("n/a");
    expect(cell(summarize([1, 2, 3], "x"))).toBe("2 (1–3)");
    expect(cell(summarize([4], "x"))).toBe("4");
  });
});

describe("wrk", () => {
  const out = `Running 1s test\nWRKJSON {"requests":1000,"duration_us":2000000,"bytes":5,"p50_us":1500,"p90_us":2000,"p99_us":9000,"max_us":12000,"mean_us":1600.5,"connect_errors":0,"read_errors":0,"write_errors":0,"status_errors":3,"timeouts":1}\n`;

  it("parses the done() line", () => {
    const r = parseWrkOutput(out);
    expect(r.rps).toBe(500);
    expect(r.p50Ms).toBe(1.5);
    expect(r.p99Ms).toBe(9);
    expect(r.errors).toBe(4);
    expect(r.statusErrors).toBe(3);
    expect(() => parseWrkOutput("no json here")).toThrow(/WRKJSON/);
  });

  it("pins with taskset when given CPUs", () => {
    const a = wrkArgs(
      { url: "http://127.0.0.1:1/", connections: 4, durationS: 2, cpus: "1", headers: { a: "b" } },
      "/s.lua",
    );
    expect(a.cmd).toBe("taskset");
    expect(a.args.slice(0, 3)).toEqual(["-c", "1", "wrk"]);
    expect(a.args).toContain("a: b");
    expect(wrkArgs({ url: "u", connections: 1, durationS: 1 }, "s").cmd).toBe("wrk");
  });

  const server = createServer((req, res) => {
    res.writeHead(req.headers.cookie?.includes("bad") ? 401 : 200);
    res.end("ok");
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("runs the real wrk, and a run of non-2xx answers is an error, not a result", async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const ok = await runWrk({ url, connections: 2, durationS: 1, lua: distinctSessionLua("c", 0) });
    expect(ok.requests).toBeGreaterThan(10);
    expect(ok.p99Ms).toBeGreaterThanOrEqual(ok.p50Ms);
    await expect(runWrk({ url, connections: 2, durationS: 1, headers: { cookie: "bad=1" } })).rejects.toThrow(
      /non-2xx/,
    );
  });
});

describe("report", () => {
  const s = summarize([100, 120, 110], "req/s");
  const report: RunReport = {
    schema: "sessiongate-bench/1",
    machine: {
      date: "2026-01-01T00:00:00Z",
      cpuModel: "CPU",
      cores: 2,
      memoryMiB: 1,
      freeMemoryMiB: 1,
      loadAvg: [0, 0, 0],
      os: "linux",
      node: "v20",
      envoy: "1.40.0",
      wrk: "4.1",
      redis: "7",
      gitCommit: "abc",
      gitDirty: false,
      command: "npm run bench -- --quick",
    },
    options: { quick: true, reps: 3, durationS: 3, only: [] },
    durationS: 10,
    groups: [
      {
        group: "g",
        title: "Group",
        notes: ["a note"],
        figures: { "x.rps": s },
        tables: [{ title: "T", columns: ["a", "b|c"], rows: [["1", "2"]] }],
        goals: [{ name: "goal", target: ">= 5", measured: "4", met: false }],
        chart: {
          title: "C",
          panels: [{ metric: "rps", unit: "req/s", bars: [{ label: "<a>", sample: s }] }],
        },
      },
      { group: "h", title: "Skipped", notes: [], figures: {}, tables: [], goals: [], skipped: "not there" },
    ],
  };

  it("renders Markdown with the command, goals (missed in bold), tables and skips", () => {
    const md = renderMarkdown(report);
    expect(md).toContain("`npm run bench -- --quick`");
    expect(md).toContain("| goal | >= 5 | 4 | **no** |");
    expect(md).toContain("| a | b\\|c |");
    expect(md).toContain("Not measured: not there");
    expect(md).toContain("![Envoy side by side](latest.svg)");
    expect(mdTable({ title: "", columns: ["x", "y"], rows: [] })).toBe("| x | y |\n|---|---:|");
  });

  it("draws an SVG bar per variant with an escaped label and a min-max whisker", () => {
    const svg = renderChart(report.groups[0].chart!, "sub & title");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("&#60;a&#62;");
    expect(svg).toContain("sub &#38; title");
    expect((svg.match(/<rect /g) ?? []).length).toBe(2); // background + one bar
    expect(svg).toContain("<path ");
  });

  it("sizes the label column to the longest label, so a label never runs into its bar", () => {
    const long = "(e) oauth2-proxy ext_authz, Redis sessions";
    const spec = {
      title: "C",
      panels: [{ metric: "m", unit: "x", bars: [{ label: long, sample: summarize([1, 2], "x") }] }],
    };
    const svg = renderChart(spec);
    const barX = Number(/<rect x="(\d+)"/.exec(svg)?.[1]);
    expect(barX).toBeGreaterThanOrEqual(textWidth(long));
    // The label ends (text-anchor end) left of the bar and starts right of the edge.
    const labelEnd = Number(/<text x="(\d+)" [^>]*text-anchor="end">\(e\)/.exec(svg)?.[1]);
    expect(labelEnd).toBeLessThan(barX);
    expect(labelEnd - textWidth(long)).toBeGreaterThanOrEqual(0);
  });

  it("wraps a long subtitle so that no line runs past the chart's width", () => {
    const long = Array.from({ length: 12 }, (_, i) => `part ${i} of a long subtitle`).join(" · ");
    const lines = wrap(long, 40);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(40);
    expect(lines.join(" · ")).toBe(long);
    const svg = renderChart(report.groups[0].chart!, long);
    for (const m of svg.matchAll(/<text x="10" y="\d+" font-size="11" fill="#555">([^<]*)</g))
      expect(textWidth(m[1], 11)).toBeLessThanOrEqual(760 - 20);
  });

  it("marks a group noisy and shows its load average", () => {
    expect(loadRecord(0.3, 2.4, 2).noisy).toBe(false);
    expect(loadRecord(1.5, 2.4, 2).noisy).toBe(true);
    expect(loadRecord(0.3, 3.5, 2).noisy).toBe(true);
    const md = renderMarkdown({
      ...report,
      groups: [{ ...report.groups[0], load: loadRecord(4, 9, 2) }],
    });
    expect(md).toContain("Load average (1 min): 4 before, 9 after (2 cores) — **noisy run**.");
  });
});

describe("preflight", () => {
  it("names a missing tool with how to get it, before anything starts", () => {
    const saved = process.env.OAUTH2_PROXY_BIN;
    process.env.OAUTH2_PROXY_BIN = "/nonexistent/oauth2-proxy";
    try {
      const missing = missingTools(["oauth2-proxy", "wrk"]);
      expect(missing).toHaveLength(1);
      expect(missing[0]).toMatch(/oauth2-proxy v7\.15\.6 not found .*scripts\/go-tools\.sh oauth2-proxy/);
    } finally {
      if (saved === undefined) delete process.env.OAUTH2_PROXY_BIN;
      else process.env.OAUTH2_PROXY_BIN = saved;
    }
  });
});

describe("helpers", () => {
  it("progress reports group, step and an ETA from the estimates", () => {
    let text = "";
    const sink = new Writable({
      write(c, _e, cb) {
        text += c.toString();
        cb();
      },
    }) as unknown as NodeJS.WriteStream;
    const p = new Progress(
      [
        { name: "one", estimateS: 10 },
        { name: "two", estimateS: 100 },
      ],
      sink,
    );
    p.startGroup("one");
    p.update("rep 1/3", 0.1);
    expect(text).toContain("bench [1/2] one: rep 1/3");
    expect(p.etaS()).toBeGreaterThanOrEqual(100);
    expect(p.etaS()).toBeLessThanOrEqual(110);
  });

  it("plans Envoy on its own CPU when there are two or more", () => {
    expect(cpuPlan(1)).toEqual({ envoy: "", load: "" });
    expect(cpuPlan(2)).toEqual({ envoy: "0", load: "1" });
    expect(cpuPlan(8)).toEqual({ envoy: "0", load: "1-7" });
  });

  it("builds the filter config of the contract and cookie headers with the session cookie last", () => {
    const c = JSON.parse(filterConfig(false));
    expect(c.cache.enabled).toBe(false);
    expect(c.bff_cluster).toBe("sessiongate_bff_internal");
    const h = cookieHeader(10);
    expect(h.split("; ")).toHaveLength(10);
    expect(h.endsWith(`__Host-sg-bench=${"S".repeat(43)}`)).toBe(true);
  });

  it("extracts and fills the Lua of envoy/lua-reference.yaml when it exists", () => {
    const src = luaReferenceSource();
    if (src !== null) {
      expect(src).toContain("envoy_on_request");
      expect(src).not.toMatch(/\{\{[A-Z_]+\}\}/);
    }
    expect(luaReferenceSource("/nonexistent.yaml")).toBeNull();
  });
});

describe("control-plane levels", () => {
  it("100 and 1,000 apps in quick runs, 10,000 too in full runs; an env list overrides, a bad one is refused", async () => {
    const { levels } = await import("./groups/control-plane.js");
    const o = { quick: true, reps: 3, durationS: 3 };
    expect(levels(o, undefined)).toEqual([100, 1000]);
    expect(levels({ ...o, quick: false }, undefined)).toEqual([100, 1000, 10_000]);
    expect(levels(o, "100, 10000")).toEqual([100, 10_000]);
    expect(() => levels(o, "100,lots")).toThrow(/SESSIONGATE_BENCH_CP_APPS/);
  });
});
