// The container image (Dockerfile at the repository root). Where a container
// engine exists the image is built and both servers' --help run in it. Where
// none does (this project's CI machines) that part is NOT done and the output
// says so; only the static checks below run and count.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { run } from "./exec.js";

const dockerfile = readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8");
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));

/** Instructions of the Dockerfile, line continuations joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, " ")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith("#"))
  .map((l) => {
    const [op, ...rest] = l.split(/\s+/);
    return { op: op.toUpperCase(), arg: rest.join(" ") };
  });
const stages = instructions.reduce<(typeof instructions)[]>((acc, i) => {
  if (i.op === "FROM") acc.push([]);
  acc.at(-1)?.push(i);
  return acc;
}, []);
const final = stages.at(-1) ?? [];

function engine(): string | undefined {
  for (const cmd of ["docker", "podman"]) {
    const r = spawnSync(cmd, ["info"], { stdio: "ignore", timeout: 20_000 });
    if (r.status === 0) return cmd;
  }
  return undefined;
}

describe("Dockerfile (static checks)", () => {
  it("is multi-stage and runs on a minimal, pinned Node.js base as a non-root user", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const base = final[0].arg;
    expect(base).toMatch(/^gcr\.io\/distroless\/nodejs20-debian12:nonroot$|^node:20[\w.-]*-slim/);
    for (const s of stages) expect(s[0].arg).not.toMatch(/:latest\b|^[^:]+$/);
    const user = final.filter((i) => i.op === "USER").at(-1)?.arg ?? "root";
    expect(user.split(":")[0]).not.toMatch(/^(0|root)$/);
    // the Node.js major of the image satisfies the package's engines field
    expect(Number(pkg.engines.node.match(/\d+/)[0])).toBeLessThanOrEqual(20);
  });

  it("starts the installed package's sessiongate bin, built from the npm tarball without devDependencies", () => {
    const entry = JSON.parse(final.find((i) => i.op === "ENTRYPOINT")?.arg ?? "[]") as string[];
    expect(entry.at(-1)).toBe(`/app/node_modules/sessiongate/${pkg.bin.sessiongate}`);
    expect(pkg.files).toContain("bin/");
    expect(dockerfile).toMatch(/npm pack/);
    expect(dockerfile).toMatch(/npm install --omit=dev/);
    const ignored = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8").split("\n");
    for (const p of ["node_modules", "build", ".tools", ".venv"]) expect(ignored).toContain(p);
  });
});

const found = engine();
if (!found) {
  process.stderr.write(
    "\n*** test/dist/image.test.ts: container image NOT built and NOT run: no container engine " +
      "(`docker info` / `podman info` failed) on this machine. Only the Dockerfile's static checks ran. ***\n\n",
  );
} else {
  describe(`container image (built with ${found})`, () => {
    it("builds, and both servers' --help run in it as a non-root user", {
      timeout: budget(1_800_000),
    }, async () => {
      const tag = `sessiongate-test:${process.pid}`;
      const b = await run(found, ["build", "-t", tag, REPO_ROOT], { progress: true });
      expect(b.code, b.stderr).toBe(0);
      try {
        for (const cmd of [["xds-server", "--help"], ["bff", "--help"], ["--help"]]) {
          const r = await run(found, ["run", "--rm", tag, ...cmd]);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toMatch(/Usage: sessiongate/);
        }
        const id = await run(found, [
          "run",
          "--rm",
          "--entrypoint",
          "/nodejs/bin/node",
          tag,
          "-e",
          "console.log(process.getuid())",
        ]);
        expect(id.stdout.trim()).not.toBe("0");
      } finally {
        await run(found, ["rmi", "-f", tag]);
      }
    });
  });
}
