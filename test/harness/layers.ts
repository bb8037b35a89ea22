// Imports run downward: the layer check shared by test/xds/layers.test.ts and
// test/bff/layers.test.ts. The layers are read from a numbered list in a
// Markdown section ("1. `resource/` — …", lowest first); imports are read with
// the TypeScript compiler's own pre-processor (type-only imports count too).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/**
 * The layers listed under `heading` (a whole heading line, e.g. "## Layers"),
 * lowest first, each a list of modules: "resource/" a folder, "main.ts" a file.
 */
export function layersFromMarkdown(file: string, heading: string): string[][] {
  const lines = readFileSync(file, "utf8").split("\n");
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`${file} has no "${heading}" section`);
  const level = heading.indexOf(" ");
  const layers: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    const h = /^(#+) /.exec(line);
    if (h && h[1].length <= level) break;
    const m = /^(\d+)\. (.*?) — /.exec(line);
    if (!m) continue;
    if (Number(m[1]) !== layers.length + 1) throw new Error(`${heading}: item ${m[1]} out of order`);
    layers.push([...m[2].matchAll(/`([^`]+)`/g)].map((x) => x[1]));
  }
  return layers;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Relative imports of a file, resolved to paths relative to `root` (".js" specifiers name ".ts" files). */
function importsOf(root: string, file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith("."))
    .map((s) => relative(root, resolve(dirname(file), s)).replace(/\.js$/, ".ts"));
}

/** Every .ts file under `root` (paths relative to it) → its relative imports; `withImports: false` lists the files only. */
export function importGraph(root: string, withImports = true): Map<string, string[]> {
  return new Map(sourceFiles(root).map((f) => [relative(root, f), withImports ? importsOf(root, f) : []]));
}

/** Every import that is not downward: [importer, imported, why]. Imports leaving the root ("../") are not checked. */
export function upwardImports(graph: Map<string, string[]>, layers: string[][]): string[][] {
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
      if (target.startsWith("..")) continue;
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
