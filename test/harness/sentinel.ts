// Redis behind Sentinel (the chaos failover scenario, the registry's Sentinel
// test): a master and a replica (both with AOF, in temporary dirs) and one
// sentinel with quorum 1, all real redis-server processes on loopback.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { LOG_DIR, onCleanup } from "./cleanup.js";
import { freePort, waitFor } from "./ports.js";
import { startProcess } from "./process.js";
import { type RedisHandle, redisBin, startRedis } from "./redis.js";

export const SENTINEL_MASTER = "sgmaster";

export interface SentinelSet {
  master: RedisHandle;
  replica: RedisHandle;
  sentinelPort: number;
  /** The URL the BFFs and the xds-servers use. */
  url: string;
  /** The port the sentinel names as master now. */
  masterPort(): Promise<number>;
  /** Acknowledged writes on the master reached the replica (WAIT 1). */
  synced(): Promise<boolean>;
}

export async function startSentinelSet(): Promise<SentinelSet> {
  const clients: Redis[] = [];
  onCleanup(async () => {
    for (const c of clients) c.disconnect();
  });
  const client = (port: number) => {
    const c = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    c.on("error", () => {});
    clients.push(c);
    return c;
  };
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "sg-sentinel-"));
    onCleanup(() => rmSync(d, { recursive: true, force: true }));
    return d;
  };
  const master = await startRedis({ persistence: { dir: dir() } });
  const replica = await startRedis({ persistence: { dir: dir() } });
  await client(replica.port).replicaof("127.0.0.1", master.port);
  await waitFor("the replica in sync", async () =>
    (await client(replica.port).info("replication")).includes("master_link_status:up"),
  );
  const sentinelPort = await freePort();
  const conf = join(LOG_DIR, `sentinel-${sentinelPort}.conf`);
  onCleanup(() => rmSync(conf, { force: true }));
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      "bind 127.0.0.1",
      `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER} 10000`,
      "",
    ].join("\n"),
  );
  await startProcess({
    name: `sentinel-${sentinelPort}`,
    cmd: redisBin(),
    args: [conf, "--sentinel"],
    ready: { port: sentinelPort },
  });
  const sentinel = client(sentinelPort);
  const masterClient = client(master.port);
  return {
    master,
    replica,
    sentinelPort,
    url: `redis-sentinel://127.0.0.1:${sentinelPort}/${SENTINEL_MASTER}`,
    masterPort: async () =>
      Number(((await sentinel.call("SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)) as string[])[1]),
    synced: async () => (await masterClient.wait(1, 2000)) === 1,
  };
}
