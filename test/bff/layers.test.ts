// Imports in the BFF run downward, in the layer order written in
// docs/architecture.md ("BFF layers"), which this test reads: a file may import
// its own module and modules of lower layers only (test/harness/layers.ts).
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { importGraph, layersFromMarkdown, upwardImports } from "../harness/layers.js";

const ROOT = resolve(import.meta.dirname, "../../bff");
const DOC = resolve(import.meta.dirname, "../../docs/architecture.md");

describe("BFF layers", () => {
  const layers = layersFromMarkdown(DOC, "### BFF layers");

  it("docs/architecture.md lists the layers, and every BFF file is in one", () => {
    expect(layers.length).toBeGreaterThanOrEqual(5);
    expect(upwardImports(importGraph(ROOT, false), layers)).toEqual([]);
  });

  it("every import points down the layer order", () => {
    const graph = importGraph(ROOT);
    expect(graph.size).toBeGreaterThan(30);
    expect(upwardImports(graph, layers)).toEqual([]);
  });

  it("the check passes downward imports and catches a flow importing HTTP, an import across one layer and a file in no layer", () => {
    const graph = new Map([
      ["http/login.ts", ["oidc/login.ts", "session/store.ts", "http/util.ts"]],
      ["oidc/login.ts", ["http/util.ts"]],
      ["session/store.ts", ["apps/set.ts"]],
      ["stray.ts", []],
    ]);
    expect(upwardImports(graph, layers)).toEqual([
      ["oidc/login.ts", "http/util.ts", "imports up (layer 5 > 4)"],
      ["session/store.ts", "apps/set.ts", "imports a module of its own layer (apps/)"],
      ["stray.ts", "", "is in no layer"],
    ]);
  });
});
