// The `bff/main.ts` command: --help, exit codes (0 ok, 2 bad config with the field named),
// and pure unit checks of the crypto and return_to helpers.
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateReturnTo } from "../../bff/oidc/return-to.js";
import {
  DecryptError,
  decrypt,
  encrypt,
  hashSessionId,
  type KeyRing,
  newSessionId,
} from "../../bff/session/crypto.js";
import { budget, REPO_ROOT } from "../harness/index.js";
import { bffConfig, KEY1, KEY2, writeConfig } from "./helpers.js";

const tsx = join(REPO_ROOT, "node_modules", ".bin", "tsx");
// Async, so the cases of one test run side by side (tsx start-up dominates).
function run(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(tsx, [join(REPO_ROOT, "bff", "main.ts"), ...args], {
      cwd: REPO_ROOT,
      timeout: budget(30_000),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe("bff/main.ts", () => {
  it("--help prints usage and exits 0", async () => {
    const r = await run("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--config <file>/);
    expect(r.stdout).toMatch(/Exit codes/);
  });

  it("exits 2 naming the field for a bad config, a syntax error or no --config", async () => {
    const good = bffConfig({
      publicPort: 0,
      redisUrl: "redis://127.0.0.1:1",
      issuer: "http://127.0.0.1:2",
      apps: [{ id: "web", mode: "bff", secret: "s" }],
    });
    const yamlFile = join(REPO_ROOT, "test", ".logs", `bad-${process.pid}.yaml`);
    writeFileSync(yamlFile, "apps: [\n  - id: x\n   bad indent: {");
    const samePort = {
      ...good,
      public: { listen: "127.0.0.1:7001" },
      internal: { listen: "127.0.0.1:7001" },
    };
    const [bad, yaml, none, missing, bogus, same, ok] = await Promise.all([
      run("--config", writeConfig("bad-config", { ...good, session: { idle_timeout_s: "soon" } })),
      run("--config", yamlFile),
      run(),
      run("--config", "/nonexistent/file.yaml"),
      run("--bogus"),
      run("--config", writeConfig("same-port", samePort)),
      run("--config", writeConfig("good-config", good), "--check"),
    ]);
    rmSync(yamlFile, { force: true });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/session\.idle_timeout_s/);
    expect(yaml.status).toBe(2);
    expect(yaml.stderr).toMatch(/invalid config/);
    expect(none.status).toBe(2);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--config: cannot read/);
    expect(bogus.status).toBe(2);
    expect(same.status).toBe(2);
    expect(same.stderr).toMatch(/internal\.listen/);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/config ok/);
  });

  it("exits 1 on a runtime failure at start-up (public port taken)", async () => {
    const { createServer } = await import("node:net");
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const cfg = bffConfig({
        publicPort: port,
        redisUrl: "redis://127.0.0.1:9",
        issuer: "http://127.0.0.1:9",
        apps: [{ id: "web", mode: "bff", secret: "s" }],
      });
      const r = await run("--config", writeConfig("port-taken", cfg));
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it("YAML config with defaults: cookie __Host-sg-<id>, prefix /auth, internal on 127.0.0.1", async () => {
    const { parse } = await import("yaml");
    const { validateConfig } = await import("../../bff/config/schema.js");
    const c = validateConfig(
      parse(`
public: { listen: ":8080" }
redis: { url: "redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster" }
keys: { keys: { k1: "${KEY1}" } }
apps:
  - id: shop
    issuer: https://idp.example
    client_id: shop
    client_secret: s3cret
    redirect_uri: https://shop.example/auth/shop/callback
`),
    );
    expect(c.prefix).toBe("/auth");
    expect(c.internalListen).toEqual({ host: "127.0.0.1", port: 8081 });
    expect(c.publicListen).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(c.apps[0]).toMatchObject({
      cookie: "__Host-sg-shop",
      mode: "bff",
      publicOrigin: "https://shop.example",
      allowedOrigins: ["https://shop.example"],
    });
    expect(c.keys.active).toBe("k1");
  });
});

describe("crypto", () => {
  const ring = (active: string, keys: Record<string, string>): KeyRing => ({
    active,
    keys: new Map(Object.entries(keys).map(([k, v]) => [k, Buffer.from(v, "base64")])),
    hashKey: Buffer.from("pepper"),
  });

  it("encrypts with the active key, decrypts with any configured key, refuses tampering and other AAD", () => {
    const old = ring("k1", { k1: KEY1 });
    const blob = encrypt(old, "secret", "aad");
    expect(blob).toMatch(/^v1\.k1\./);
    expect(blob).not.toContain("secret");
    const rotated = ring("k2", { k1: KEY1, k2: KEY2 });
    expect(decrypt(rotated, blob, "aad")).toBe("secret");
    expect(encrypt(rotated, "x", "aad")).toMatch(/^v1\.k2\./);
    expect(() => decrypt(rotated, blob, "other")).toThrow(DecryptError);
    const at = blob.length - 10; // inside the GCM tag
    const flipped = blob.slice(0, at) + (blob[at] === "A" ? "B" : "A") + blob.slice(at + 1);
    expect(() => decrypt(rotated, flipped, "aad")).toThrow(DecryptError);
    expect(() => decrypt(ring("k2", { k2: KEY2 }), blob, "aad")).toThrow(/unknown key id/);
    expect(() => decrypt(old, "garbage", "aad")).toThrow(DecryptError);
  });

  it("session ids are 43 base64url chars and their Redis hash does not reveal them", () => {
    const id = newSessionId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newSessionId()).not.toBe(id);
    const h = hashSessionId(ring("k1", { k1: KEY1 }), id);
    expect(h).not.toContain(id);
    expect(h).toBe(hashSessionId(ring("k2", { k2: KEY2 }), id)); // independent of the encryption keys
  });
});

describe("return_to", () => {
  const o = "https://app.example";
  it("keeps same-origin targets and refuses everything else", () => {
    expect(validateReturnTo(null, o, [o])).toBe(`${o}/`);
    expect(validateReturnTo("/a/b?c=d", o, [o])).toBe(`${o}/a/b?c=d`);
    expect(validateReturnTo(`${o}/x`, o, [o])).toBe(`${o}/x`);
    expect(validateReturnTo("https://other.example/", o, [o, "https://other.example"])).toBe(
      "https://other.example/",
    );
    for (const bad of [
      "//evil",
      "/\\evil",
      "https://evil/",
      "javascript:x",
      "/a\tb",
      "https://app.example.evil.com/",
      "http://app.example/",
      "x".repeat(3000),
    ]) {
      expect(validateReturnTo(bad, o, [o]), bad).toBeNull();
    }
  });
});
