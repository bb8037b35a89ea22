// The Redis registry behind Redis Sentinel (real redis-server processes: a
// master, a replica, one sentinel with quorum 1): the master SIGKILLed, the
// sentinel promotes the replica, and the registry follows it — registrations
// replicated before the failover survive, and new ones are accepted after it.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../xds-server/registry/redis.js";
import { sentinelOptions } from "../../xds-server/registry/redis-url.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import { waitFor } from "../harness/index.js";
import { type SentinelSet, startSentinelSet } from "../harness/sentinel.js";
import { baseSpec } from "./helpers.js";

let set: SentinelSet;
const clients: Redis[] = [];
let store: RedisStore | undefined;

const spec = (id: string) => validateApp({ ...(baseSpec(id) as object), hosts: [`${id}.test`] });
const client = (port: number) => {
  const c = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
  c.on("error", () => {});
  clients.push(c);
  return c;
};

beforeAll(async () => {
  set = await startSentinelSet();
});

afterAll(async () => {
  await store?.close();
  for (const c of clients) c.disconnect();
});

describe("registry on Redis Sentinel", () => {
  it("registrations survive the master's SIGKILL: the registry follows the promoted replica and accepts new ones", async () => {
    const { master, replica } = set;
    store = new RedisStore({
      url: set.url,
      prefix: "s:",
      pollMs: 200,
    });
    await store.start();
    const before = spec("before-failover");
    const rec = await store.create(before.spec, before.clientSecret);
    // Replication is asynchronous: the invariant is about acknowledged-and-replicated writes.
    expect(await client(master.port).wait(1, 5000)).toBe(1);

    await master.kill();
    await waitFor(
      "the sentinel to promote the replica",
      async () => (await set.masterPort()) === replica.port,
      30_000,
      200,
    );

    const after = spec("after-failover");
    await waitFor(
      "a registration accepted on the new master",
      () => store!.create(after.spec, after.clientSecret).then(() => true),
      30_000,
      200,
    );
    await waitFor("the registry's snapshot with both apps", async () => {
      const ids = store!.snapshot().apps.map((a) => a.spec.id);
      return ids.includes("before-failover") && ids.includes("after-failover");
    });
    const kept = store.snapshot().apps.find((a) => a.spec.id === "before-failover");
    expect(kept?.revision).toBe(rec.revision);
    expect(await client(replica.port).exists("s:apps")).toBe(1);
  });

  it("tells the URL forms apart (a redis-cluster:// URL is no Sentinel) and refuses an unknown scheme", () => {
    expect(sentinelOptions("redis-cluster://127.0.0.1:7000")).toBeNull();
    expect(() => sentinelOptions("http://127.0.0.1:6379")).toThrow(/expected redis:\/\//);
    expect(sentinelOptions("redis://127.0.0.1:6379")).toBeNull();
    expect(sentinelOptions("rediss-sentinel://:pw@a:1,b:2/m?db=3")).toMatchObject({
      sentinels: [
        { host: "a", port: 1 },
        { host: "b", port: 2 },
      ],
      name: "m",
      password: "pw",
      db: 3,
    });
  });
});
