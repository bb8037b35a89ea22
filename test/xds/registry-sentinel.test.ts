// The Redis registry behind Redis Sentinel (real redis-server processes: a
// master, a replica, one sentinel with quorum 1): the master SIGKILLed, the
// sentinel promotes the replica, and the registry follows it — registrations
// replicated before the failover survive, and new ones are accepted after it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../xds-server/registry/redis.js";
import { sentinelOptions } from "../../xds-server/registry/redis-url.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import {
  freePort,
  LOG_DIR,
  type ManagedProcess,
  onCleanup,
  type RedisHandle,
  redisBin,
  startProcess,
  startRedis,
  waitFor,
} from "../harness/index.js";
import { baseSpec } from "./helpers.js";

const MASTER = "sgmaster";
let master: RedisHandle;
let replica: RedisHandle;
let sentinel: ManagedProcess;
let sentinelPort: number;
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
  // The full sync writes an RDB file: into temporary data dirs, not the working directory.
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "sg-sentinel-"));
    onCleanup(() => rmSync(d, { recursive: true, force: true }));
    return d;
  };
  master = await startRedis({ persistence: { dir: dir() } });
  replica = await startRedis({ persistence: { dir: dir() } });
  await client(replica.port).replicaof("127.0.0.1", master.port);
  await waitFor("the replica in sync", async () =>
    (await client(replica.port).info("replication")).includes("master_link_status:up"),
  );
  sentinelPort = await freePort();
  // A sentinel rewrites its own configuration file: one per run, in the logs dir.
  const conf = join(LOG_DIR, `sentinel-${sentinelPort}.conf`);
  onCleanup(() => rmSync(conf, { force: true }));
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      "bind 127.0.0.1",
      `sentinel monitor ${MASTER} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${MASTER} 1000`,
      `sentinel failover-timeout ${MASTER} 10000`,
      "",
    ].join("\n"),
  );
  sentinel = await startProcess({
    name: `sentinel-${sentinelPort}`,
    cmd: redisBin(),
    args: [conf, "--sentinel"],
    ready: { port: sentinelPort },
  });
});

afterAll(async () => {
  await store?.close();
  for (const c of clients) c.disconnect();
  await sentinel?.stop();
});

const masterPort = async () =>
  Number(((await client(sentinelPort).call("SENTINEL", "get-master-addr-by-name", MASTER)) as string[])[1]);

describe("registry on Redis Sentinel", () => {
  it("registrations survive the master's SIGKILL: the registry follows the promoted replica and accepts new ones", async () => {
    store = new RedisStore({
      url: `redis-sentinel://127.0.0.1:${sentinelPort}/${MASTER}`,
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
      async () => (await masterPort()) === replica.port,
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

  it("refuses a redis-cluster:// URL with the reason, and an unknown scheme", () => {
    expect(() => sentinelOptions("redis-cluster://127.0.0.1:7000")).toThrow(/Cluster is not supported/);
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
