// docs/architecture.md is the design document, and code and tests cite its
// sections by anchor. A renamed heading must not leave a citation dangling,
// and nothing may cite the starting design, which is not in the repository.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../harness/index.js";

const DOC = "docs/architecture.md";
const SELF = "test/foundation/architecture-refs.test.ts";

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
  return out
    .split("\n")
    .filter((f) => /\.(ts|mjs|js|md|yaml|proto)$/.test(f) && !f.includes("node_modules/") && f !== SELF);
}

describe("docs/architecture.md citations", () => {
  const doc = readFileSync(join(REPO_ROOT, DOC), "utf8");
  const anchors = new Set(
    doc
      .split("\n")
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) => anchorOf(l.replace(/^#+ /, ""))),
  );

  it("finds the document's headings (the anchor rule is the one the citations use)", () => {
    expect(anchors.has("security-invariants")).toBe(true);
    expect(anchors.has("invariant-6")).toBe(true);
  });

  it("every architecture.md#anchor cited in the repository names a heading of the document", () => {
    const dangling: string[] = [];
    for (const f of trackedFiles()) {
      const text = readFileSync(join(REPO_ROOT, f), "utf8");
      for (const m of text.matchAll(/architecture\.md#([\w-]+)/g))
        if (!anchors.has(m[1])) dangling.push(`${f}: #${m[1]}`);
      // Within the document itself, bare (#anchor) links.
      if (f === DOC)
        for (const m of text.matchAll(/\]\(#([\w-]+)\)/g))
          if (!anchors.has(m[1])) dangling.push(`${f}: #${m[1]}`);
    }
    expect(dangling).toEqual([]);
  });

  it("nothing cites the starting design (DESIGN §n, CONTRACTS), which is not part of the project", () => {
    const stale: string[] = [];
    for (const f of trackedFiles()) {
      if (f === DOC) continue; // its table of old references says where each went
      const lines = readFileSync(join(REPO_ROOT, f), "utf8").split("\n");
      lines.forEach((l, i) => {
        if (/DESIGN(\.md)? ?(§|invariant)|\bCONTRACTS\b/.test(l)) stale.push(`${f}:${i + 1}`);
      });
    }
    expect(stale).toEqual([]);
  });
});
