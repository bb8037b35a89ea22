// The Redis registry on a Redis Cluster (real redis-server processes with
// cluster support: 3 masters + 3 replicas, test/harness/redis-cluster.ts):
// every key under one hash tag, so each change stays one Lua script; the
// master holding that slot SIGKILLed, its replica promoted, and the registry
// follows it — registrations replicated before the failover survive, new ones
// are accepted after it. Fails (never skips) without cluster support.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../xds-server/registry/redis.js";
import { clusterOptions, clusterPrefix } from "../../xds-server/registry/redis-url.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import { waitFor } from "../harness/index.js";
import { type RedisCluster, startRedisCluster } from "../harness/redis-cluster.js";
import { baseSpec } from "./helpers.js";

let cluster: RedisCluster;
const stores: RedisStore[] = [];
const clients: Redis[] = [];

const spec = (id: string) => validateApp({ ...(baseSpec(id) as object), hosts: [`${id}.test`] });
const client = (port: number) => {
  const c = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
  c.on("error", () => {});
  clients.push(c);
  return c;
};

beforeAll(async () => {
  cluster = await startRedisCluster();
});

afterAll(async () => {
  for (const s of stores) await s.close();
  for (const c of clients) c.disconnect();
});

describe("registry on Redis Cluster", () => {
  it("keeps its keys in one hash slot: {prefix}apps, {prefix}rev, … (one-server names unchanged)", () => {
    expect(clusterPrefix("sg:")).toBe("{sg:}");
    expect(clusterPrefix("{tenant-a}:sg:")).toBe("{tenant-a}:sg:");
    expect(clusterOptions("redis://127.0.0.1:6379")).toBeNull();
    expect(clusterOptions("rediss-cluster://:pw@a:7000,b")).toMatchObject({
      nodes: [
        { host: "a", port: 7000 },
        { host: "b", port: 6379 },
      ],
      options: { redisOptions: { password: "pw", tls: {} } },
    });
    expect(() => clusterOptions("redis-cluster://a:1/0")).toThrow(/list of nodes/);
  });

  it("two replicas on one Cluster: a change through one is seen by the other; registrations survive the SIGKILL of the slot's master, and new ones are accepted on the promoted replica", async () => {
    const [a, b] = [0, 1].map(() => {
      const s = new RedisStore({ url: cluster.url, prefix: "t:", pollMs: 200 });
      stores.push(s);
      return s;
    });
    await a.start();
    await b.start();
    const before = spec("before-failover");
    const rec = await a.create(before.spec, before.clientSecret);
    await waitFor("replica b to see the app", async () =>
      b.snapshot().apps.some((x) => x.spec.id === "before-failover"),
    );
    const victim = await cluster.masterFor("{t:}rev");
    expect(await client(victim).hexists("{t:}apps", "before-failover")).toBe(1);
    // Replication is asynchronous: the invariant is about acknowledged-and-replicated writes.
    expect(await cluster.synced(victim)).toBe(true);
    const replica = await cluster.replicaOf(victim);
    expect(replica).toBeDefined();

    await cluster.nodes.find((n) => n.port === victim)!.kill();
    await waitFor(
      "the cluster to promote the replica",
      async () => (await cluster.masterFor("{t:}rev")) === replica && (await cluster.healthy()),
      30_000,
      200,
    );
    const after = spec("after-failover");
    await waitFor(
      "a registration accepted on the new master",
      () => b.create(after.spec, after.clientSecret).then(() => true),
      30_000,
      200,
    );
    for (const s of [a, b])
      await waitFor("both replicas' snapshots with both apps", async () => {
        const ids = s.snapshot().apps.map((x) => x.spec.id);
        return ids.includes("before-failover") && ids.includes("after-failover");
      });
    expect(a.snapshot().apps.find((x) => x.spec.id === "before-failover")?.revision).toBe(rec.revision);
    expect(await client(replica!).hexists("{t:}apps", "after-failover")).toBe(1);
  });
});
