// The session store on Redis Cluster and behind Sentinel (the URL forms of bff/README.md):
// login, a refresh (lock + fenced Lua write on two keys in one hash slot), logout.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startBff, validateConfig } from "../../bff/index.js";
import { budget, onCleanup, redisBin, startOP, startProcess, startRedis, waitFor } from "../harness/index.js";
import { bffConfig, internalToken, login, opClient, ports, type TestApp } from "./helpers.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function exercise(redisUrl: string) {
  const [publicPort] = await ports(1);
  const url = `http://127.0.0.1:${publicPort}`;
  const op = await startOP({ clients: [opClient(url, WEB)], ttl: 60 });
  // A skew longer than the token lifetime makes every token request refresh.
  const cfg = bffConfig({ publicPort, redisUrl, issuer: op.issuer, apps: [WEB], skew: 120 });
  const bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
  try {
    await waitFor("readyz", async () => (await fetch(`${bff.internalUrl}/readyz`)).status === 200, 10_000);
    // The session cache's invalidation channel subscribes on this topology too (else the cache stays off).
    await waitFor(
      "session cache live",
      async () =>
        /^sessiongate_bff_session_cache_live 1$/m.test(await (await fetch(`${bff.adminUrl}/metrics`)).text()),
      10_000,
    );
    const r = await login(url, op, "web");
    const before = op.counts.refresh_token;
    const t = await internalToken(bff.internalUrl, "web", r.session);
    expect(t.status).toBe(200);
    expect(op.counts.refresh_token).toBe(before + 1);
    const out = await fetch(`${url}/auth/web/logout`, {
      method: "POST",
      headers: { cookie: `__Host-sg-web=${r.session}`, origin: url },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
  } finally {
    await bff.close();
    await op.stop();
  }
}

describe("Redis topologies", () => {
  it("redis-cluster:// (three masters)", async () => {
    const dir = tempDir("sg-cluster-");
    const nodes = await ports(3);
    for (const p of nodes) {
      await startProcess({
        name: `redis-cluster-${p}`,
        cmd: redisBin(),
        args: [
          "--port",
          String(p),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${p}.conf`),
          "--dir",
          dir,
          "--save",
          "",
          "--appendonly",
          "no",
        ],
        ready: { port: p },
      });
    }
    const create = spawnSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...nodes.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { encoding: "utf8", timeout: budget(30_000) },
    );
    expect(create.status, create.stdout + create.stderr).toBe(0);
    await waitFor("cluster_state:ok", async () =>
      nodes.every((p) =>
        spawnSync("redis-cli", ["-p", String(p), "cluster", "info"], { encoding: "utf8" }).stdout.includes(
          "cluster_state:ok",
        ),
      ),
    );
    await exercise(`redis-cluster://${nodes.map((p) => `127.0.0.1:${p}`).join(",")}`);
  });

  it("redis-sentinel:// (one master, one sentinel)", async () => {
    const master = await startRedis();
    const [sp] = await ports(1);
    const dir = tempDir("sg-sentinel-");
    const conf = join(dir, "sentinel.conf");
    writeFileSync(
      conf,
      `port ${sp}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds mymaster 5000\n`,
    );
    await startProcess({
      name: `sentinel-${sp}`,
      cmd: redisBin(),
      args: [conf, "--sentinel"],
      ready: { port: sp },
    });
    await exercise(`redis-sentinel://127.0.0.1:${sp}/mymaster`);
  });
});
