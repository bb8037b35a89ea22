// `sessiongate certs init|issue` through the real bin.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../harness/index.js";

describe("sessiongate certs", () => {
  it("init writes a root (key mode 0600), issue writes a leaf that chains to it", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "sg-certs-")), "pki");
    const init = await runCli(["certs", "init", "--dir", dir, "--trust-domain", "mesh.test"]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain(join(dir, "ca.key"));
    expect(init.stdout).toContain("spiffe://mesh.test");
    expect(statSync(join(dir, "ca.key")).mode & 0o777).toBe(0o600);
    const again = await runCli(["certs", "init", "--dir", dir, "--trust-domain", "mesh.test"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("--force");

    const out = join(dir, "out");
    const issue = await runCli([
      "certs",
      "issue",
      "--ca-dir",
      dir,
      "--role",
      "sidecar",
      "--name",
      "orders",
      "--ttl",
      "2h",
      "--out",
      out,
    ]);
    expect(issue.code, issue.stderr).toBe(0);
    expect(issue.stdout).toContain("spiffe://mesh.test/sidecar/orders");
    expect(statSync(join(out, "sidecar-orders.key")).mode & 0o777).toBe(0o600);
    const leaf = new X509Certificate(readFileSync(join(out, "sidecar-orders.pem")));
    const root = new X509Certificate(readFileSync(join(out, "bundle.pem")));
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe("URI:spiffe://mesh.test/sidecar/orders");
    expect(Date.parse(leaf.validTo) - Date.now()).toBeLessThanOrEqual(2 * 3600_000);
  });

  it("refuses bad arguments with exit codes 2 (usage) and 3 (invalid)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-certs-"));
    expect((await runCli(["certs", "init", "--dir", dir])).code).toBe(2);
    expect((await runCli(["certs", "init", "--dir", dir, "--trust-domain", "Bad_Domain!"])).code).toBe(3);
    expect((await runCli(["certs", "init", "--dir", dir, "--trust-domain", "mesh.test"])).code).toBe(0);
    const bad = await runCli(["certs", "issue", "--ca-dir", dir, "--role", "root", "--name", "x"]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain("role");
    expect(
      (await runCli(["certs", "issue", "--ca-dir", dir, "--role", "gateway", "--name", "x", "--ttl", "soon"]))
        .code,
    ).toBe(2);
    const missing = await runCli([
      "certs",
      "issue",
      "--ca-dir",
      join(dir, "nope"),
      "--role",
      "gateway",
      "--name",
      "x",
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain("ENOENT");
    expect((await runCli(["certs", "--help"])).stdout).toContain("certs issue");
  });
});
