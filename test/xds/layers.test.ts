// Imports in the xds-server run downward, in the layer order written in
// xds-server/README.md ("Layers"), which this test reads: a file may import
// its own module and modules of lower layers only. Imports are read with the
// TypeScript compiler's own pre-processor (type-only imports count too).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../xds-server");

/** The layers, lowest first, each a list of modules ("resource/" a folder, "main.ts" a file). */
function layersFromReadme(): string[][] {
  const text = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = text.split(/^## Layers$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('xds-server/README.md has no "## Layers" section');
  const layers: string[][] = [];
  for (const line of section.split("\n")) {
    const m = /^(\d+)\. (.*?) — /.exec(line);
    if (!m) continue;
    if (Number(m[1]) !== layers.length + 1) throw new Error(`Layers: item ${m[1]} out of order`);
    layers.push([...m[2].matchAll(/`([^`]+)`/g)].map((x) => x[1]));
  }
  return layers;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file, resolved to paths relative to xds-server/ (".js" specifiers name ".ts" files). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith("."))
    .map((s) => relative(ROOT, resolve(dirname(file), s)).replace(/\.js$/, ".ts"));
}

/** Every import that is not downward: [importer, imported, why]. `graph`: file -> its imports (paths relative to xds-server/). */
function upwardImports(graph: Map<string, string[]>, layers: string[][]): string[][] {
  const moduleOf = (path: string): { module: string; layer: number } | undefined => {
    for (const [i, modules] of layers.entries())
      for (const m of modules)
        if (m.endsWith("/") ? path.startsWith(m) : path === m) return { module: m, layer: i };
    return undefined;
  };
  const out: string[][] = [];
  for (const [file, imports] of graph) {
    const from = moduleOf(file);
    if (!from) {
      out.push([file, "", "is in no layer"]);
      continue;
    }
    for (const target of imports) {
      if (target.startsWith("..")) continue; // outside xds-server (protos/gen)
      const to = moduleOf(target);
      if (!to) out.push([file, target, "imports a file in no layer"]);
      else if (to.module === from.module) continue;
      else if (to.layer > from.layer)
        out.push([file, target, `imports up (layer ${to.layer + 1} > ${from.layer + 1})`]);
      else if (to.layer === from.layer)
        out.push([file, target, `imports a module of its own layer (${to.module})`]);
    }
  }
  return out;
}

describe("xds-server layers", () => {
  const layers = layersFromReadme();

  it("the README lists the layers, and every xds-server file is in one", () => {
    expect(layers.length).toBeGreaterThanOrEqual(5);
    const graph = new Map(sourceFiles(ROOT).map((f) => [relative(ROOT, f), []]));
    expect(upwardImports(graph, layers)).toEqual([]);
  });

  it("every import points down the layer order", () => {
    const graph = new Map(sourceFiles(ROOT).map((f) => [relative(ROOT, f), importsOf(f)]));
    expect(graph.size).toBeGreaterThan(30);
    expect(upwardImports(graph, layers)).toEqual([]);
  });

  it("the check catches an upward import, an import across one layer, and a file in no layer", () => {
    const graph = new Map([
      ["cache/snapshots.ts", ["ads/types.ts", "translate/index.ts", "cache/encode.ts"]],
      ["resource/types.ts", ["api/status.ts"]],
      ["stray.ts", []],
    ]);
    expect(upwardImports(graph, layers)).toEqual([
      ["cache/snapshots.ts", "ads/types.ts", "imports a module of its own layer (ads/)"],
      ["resource/types.ts", "api/status.ts", "imports up (layer 6 > 1)"],
      ["stray.ts", "", "is in no layer"],
    ]);
  });
});
