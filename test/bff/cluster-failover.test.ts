// The BFF's session store on a Redis Cluster that fails over (real
// redis-server processes with cluster support: 3 masters + 3 replicas,
// test/harness/redis-cluster.ts): the master holding a session's hash slot
// SIGKILLed, its replica promoted; the session survives and the BFF follows
// the new master (token, refresh, logout). Fails (never skips) without
// cluster support.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { type OpHandle, startOP, waitFor } from "../harness/index.js";
import { type RedisCluster, startRedisCluster } from "../harness/redis-cluster.js";
import { bffConfig, internalToken, json, login, opClient, ports, type TestApp } from "./helpers.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };

let cluster: RedisCluster;
let op: OpHandle;
let bff: RunningBff;
let url: string;
const clients: Redis[] = [];

const client = (port: number) => {
  const c = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
  c.on("error", () => {});
  clients.push(c);
  return c;
};

beforeAll(async () => {
  cluster = await startRedisCluster();
  const [publicPort] = await ports(1);
  url = `http://127.0.0.1:${publicPort}`;
  op = await startOP({ clients: [opClient(url, WEB)], ttl: 60 });
  // A skew longer than the token lifetime: every token call refreshes (lock + fenced Lua write).
  const cfg = bffConfig({ publicPort, redisUrl: cluster.url, issuer: op.issuer, apps: [WEB], skew: 120 });
  bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
  await waitFor("readyz", async () => (await fetch(`${bff.internalUrl}/readyz`)).status === 200);
});

afterAll(async () => {
  await bff?.close();
  for (const c of clients) c.disconnect();
});

describe("BFF on Redis Cluster", () => {
  it("a session survives the SIGKILL of its slot's master: the BFF follows the promoted replica (token, refresh, logout)", async () => {
    const r = await login(url, op, "web");
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(200);
    // The master holding this session's record (the only session: one s:{…} key).
    let victim: number | undefined;
    for (const n of cluster.nodes) {
      const role = (await client(n.port).info("replication")).includes("role:master");
      if (role && (await client(n.port).keys("sg:s:{*}")).some((k) => !/:(lock|retry)$/.test(k)))
        victim = n.port;
    }
    expect(victim).toBeDefined();
    const replica = await cluster.replicaOf(victim!);
    expect(await cluster.synced(victim!)).toBe(true);

    // Through the failover the session's routes answer as usual or 503 (unavailable), never 500.
    const statuses = new Set<number>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const s = await fetch(`${url}/auth/web/session`, {
          headers: { cookie: `__Host-sg-web=${r.session}` },
        });
        statuses.add(s.status);
        statuses.add((await internalToken(bff.internalUrl, "web", r.session)).status);
      }
    })();
    await cluster.nodes.find((n) => n.port === victim)!.kill();
    await waitFor(
      "the replica promoted",
      async () => {
        const info = await client(replica!).info("replication");
        return info.includes("role:master") && (await cluster.healthy());
      },
      30_000,
      200,
    );
    polling = false;
    await poll;
    expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    const refreshed0 = op.counts.refresh_token;
    await waitFor(
      "the session served again",
      async () => (await internalToken(bff.internalUrl, "web", r.session)).status === 200,
      30_000,
      200,
    );
    // Served from the promoted replica with a refresh written there (skew > lifetime).
    expect(op.counts.refresh_token).toBeGreaterThan(refreshed0);
    expect(op.counts.grant_revoked).toBe(0);
    const keys = await client(replica!).keys("sg:s:{*}");
    expect(keys.filter((k) => !/:(lock|retry)$/.test(k))).toHaveLength(1);
    const session = await fetch(`${url}/auth/web/session`, {
      headers: { cookie: `__Host-sg-web=${r.session}` },
    });
    expect((await json(session)).sub).toBe("alice");
    const out = await fetch(`${url}/auth/web/logout`, {
      method: "POST",
      headers: { cookie: `__Host-sg-web=${r.session}`, origin: url },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
  });
});
