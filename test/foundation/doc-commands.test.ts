// Every `sessiongate apps <command>` the documentation tells a user to run is a
// command the CLI has (its --help lists it): a README must not send users to
// a command that does not exist (it once said `apps status`).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { HELP } from "../../xds-server/cli/main.js";
import { REPO_ROOT } from "../harness/envoy.js";

const SKIP = new Set(["node_modules", "build", "dist", ".git", ".venv", ".tools", "test/.logs"]);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (SKIP.has(name) || SKIP.has(relative(REPO_ROOT, p))) return [];
    if (statSync(p).isDirectory()) return markdownFiles(p);
    return name.endsWith(".md") ? [p] : [];
  });
}

describe("documented CLI commands exist", () => {
  it("every `sessiongate apps <command>` in the *.md files is in `sessiongate --help`", () => {
    const known = new Set([...HELP.matchAll(/^\s+apps ([a-z-]+)/gm)].map((m) => m[1]));
    expect(known.size).toBeGreaterThanOrEqual(5);
    const used: string[] = [];
    const unknown: string[] = [];
    for (const f of markdownFiles(REPO_ROOT))
      for (const m of readFileSync(f, "utf8").matchAll(/sessiongate apps ([a-z-]+)/g)) {
        used.push(m[1]);
        if (!known.has(m[1])) unknown.push(`${relative(REPO_ROOT, f)}: sessiongate apps ${m[1]}`);
      }
    expect(used.length).toBeGreaterThan(5);
    expect(unknown).toEqual([]);
  });
});
