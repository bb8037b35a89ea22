// Imports in the xds-server run downward, in the layer order written in
// xds-server/README.md ("Layers"), which this test reads: a file may import
// its own module and modules of lower layers only (test/harness/layers.ts).
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { importGraph, layersFromMarkdown, upwardImports } from "../harness/layers.js";

const ROOT = resolve(import.meta.dirname, "../../xds-server");

describe("xds-server layers", () => {
  const layers = layersFromMarkdown(join(ROOT, "README.md"), "## Layers");

  it("the README lists the layers, and every xds-server file is in one", () => {
    expect(layers.length).toBeGreaterThanOrEqual(5);
    expect(upwardImports(importGraph(ROOT, false), layers)).toEqual([]);
  });

  it("every import points down the layer order", () => {
    const graph = importGraph(ROOT);
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
