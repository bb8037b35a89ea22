// The Istio and Envoy Gateway examples pin the filter's OCI artifact by the
// digest `npm run release` makes from the current build (the build and the
// manifest are reproducible: scripts/release.mjs). A filter change without
// `npm run examples:digests` afterwards fails here.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, REPO_ROOT } from "../harness/index.js";
import { run } from "./exec.js";

const PINNED = ["examples/istio/wasmplugin.yaml", "examples/envoy-gateway/policies.yaml"];
let work: string;
let digest: string;

beforeAll(async () => {
  // oras writes the OCI layout (pinned build from the Go module proxy, reused once built).
  const tools = await run("bash", [join(REPO_ROOT, "scripts/go-tools.sh"), "oras"], { progress: true });
  expect(tools.code, `scripts/go-tools.sh failed: ${tools.stderr}${tools.stdout}`).toBe(0);
  work = mkdtempSync(join(tmpdir(), "sg-example-digests-"));
  // --no-build: npm test has built the filter, and other test files read build/ meanwhile.
  const r = await run(process.execPath, [
    join(REPO_ROOT, "scripts/release.mjs"),
    "--no-build",
    "--out",
    join(work, "release"),
  ]);
  expect(r.code, r.stderr).toBe(0);
  digest = JSON.parse(readFileSync(join(work, "release", "release.json"), "utf8")).oci.manifestDigest;
}, budget(600_000));

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("example digests", () => {
  it("each example pins exactly the manifest digest the current build's release has", () => {
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    for (const rel of PINNED) {
      const pins = [...readFileSync(join(REPO_ROOT, rel), "utf8").matchAll(/session-to-token@(sha256:\S+)/g)];
      expect(
        pins.map((m) => m[1]),
        rel,
      ).toEqual([digest]);
    }
  });

  it("npm run examples:digests -- --check agrees (exit 0) and prints the digest", async () => {
    const r = await run(process.execPath, [join(REPO_ROOT, "scripts/example-digests.mjs"), "--check"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(digest);
    expect(r.stderr).toContain("up to date");
  });
});
