// A Redis Cluster on loopback (the chaos failover scenario, the Cluster tests):
// 3 masters + 3 replicas, real redis-server processes with `--cluster-enabled
// yes` (AOF, each in a temporary dir), joined by `redis-cli --cluster create
// … --cluster-replicas 1`. Node timeout 1 s, so a killed master's replica is
// promoted within a few seconds. Throws (never skips) when redis-server has no
// cluster support or redis-cli is missing.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { onCleanup } from "./cleanup.js";
import { freePort, waitFor } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";
import { redisBin } from "./redis.js";

export interface ClusterNode {
  port: number;
  /** SIGKILL (no restart: the cluster is to fail over). */
  kill(): Promise<void>;
  alive(): boolean;
}

export interface RedisCluster {
  nodes: ClusterNode[];
  /** The URL the BFFs and the xds-servers use: every node, so a client finds the cluster whichever is down. */
  url: string;
  /** The port of the master serving `key`'s hash slot, asked of a live node. */
  masterFor(key: string): Promise<number>;
  /** The live replica of the master on `port`, if any. */
  replicaOf(port: number): Promise<number | undefined>;
  /** Writes acknowledged by the master on `port` reached its replica (WAIT 1). */
  synced(port: number): Promise<boolean>;
  /** Every live node says cluster_state:ok and sees every slot served. */
  healthy(): Promise<boolean>;
}

export function redisCliBin(): string {
  const bin = process.env.REDIS_CLI_BIN ?? "/usr/bin/redis-cli";
  if (!existsSync(bin))
    throw new Error(
      `redis-cli not found at ${bin}: install Debian's redis-tools (bash .ci/run does) or set REDIS_CLI_BIN`,
    );
  return bin;
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  slots: string[];
}

/** CLUSTER NODES, parsed. */
function parseNodes(text: string): NodeLine[] {
  return text
    .trim()
    .split("\n")
    .map((l) => {
      const [id, addr, flags, masterId, , , , , ...slots] = l.trim().split(" ");
      return { id, port: Number(/:(\d+)@/.exec(addr)?.[1]), flags: flags.split(","), masterId, slots };
    });
}

export async function startRedisCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<RedisCluster> {
  const bin = redisBin();
  const cli = redisCliBin();
  const ports: number[] = [];
  while (ports.length < 12) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const clients = new Map<number, Redis>();
  onCleanup(async () => {
    for (const c of clients.values()) c.disconnect();
  });
  const client = (port: number) => {
    let c = clients.get(port);
    if (!c) {
      c = new Redis({
        port,
        host: "127.0.0.1",
        maxRetriesPerRequest: 1,
        lazyConnect: false,
        retryStrategy: () => 200,
      });
      c.on("error", () => {});
      clients.set(port, c);
    }
    return c;
  };
  const nodes: ClusterNode[] = [];
  const procs: ManagedProcess[] = [];
  for (let i = 0; i < 6; i++) {
    const port = ports[i];
    const dir = mkdtempSync(join(tmpdir(), "sg-cluster-"));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    // The bus port is chosen too: the default (port + 10000) may be taken or past 65535.
    const proc = await startProcess({
      name: `redis-cluster-${port}`,
      cmd: bin,
      args: [
        "--port",
        String(port),
        "--cluster-port",
        String(ports[6 + i]),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, "nodes.conf"),
        "--cluster-node-timeout",
        String(opts.nodeTimeoutMs ?? 1000),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--dir",
        dir,
        "--daemonize",
        "no",
      ],
      ready: { port },
    });
    if (!(await client(port).info("cluster")).includes("cluster_enabled:1"))
      throw new Error(`redis-server at ${bin} started without cluster support (cluster_enabled:0)`);
    procs.push(proc);
    nodes.push({ port, kill: () => proc.kill(), alive: () => !proc.exited() });
  }
  await promisify(execFile)(
    cli,
    [
      "--cluster",
      "create",
      ...ports.slice(0, 6).map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes",
    ],
    { timeout: 60_000 },
  ).catch((err: Error & { stdout?: string; stderr?: string }) => {
    throw new Error(
      `redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`,
    );
  });
  const live = () => nodes.filter((n) => n.alive());
  const nodesSeenBy = async (port: number) => parseNodes(String(await client(port).call("CLUSTER", "NODES")));
  const healthy = async () => {
    for (const n of live()) {
      if (!String(await client(n.port).call("CLUSTER", "INFO")).includes("cluster_state:ok")) return false;
      const masters = (await nodesSeenBy(n.port)).filter(
        (l) => l.flags.includes("master") && !l.flags.includes("fail"),
      );
      if (masters.filter((m) => m.slots.length > 0).length < 3) return false;
    }
    return true;
  };
  await waitFor("the Redis Cluster to be healthy", healthy, 60_000, 200);
  // Every master has its replica attached and in sync.
  await waitFor("every replica in sync", async () => {
    const lines = await nodesSeenBy(nodes[0].port);
    const replicas = lines.filter((l) => l.flags.includes("slave"));
    if (replicas.length < 3) return false;
    for (const r of replicas)
      if (!(await client(r.port).info("replication")).includes("master_link_status:up")) return false;
    return true;
  });
  const url = `redis-cluster://${ports
    .slice(0, 6)
    .map((p) => `127.0.0.1:${p}`)
    .join(",")}`;
  return {
    nodes,
    url,
    masterFor: async (key) => {
      const c = client(live()[0].port);
      const slot = Number(await c.call("CLUSTER", "KEYSLOT", key));
      const shards = (await c.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][];
      const shard = shards.find(([from, to]) => slot >= from && slot <= to);
      if (!shard) throw new Error(`no master serves slot ${slot}`);
      return Number(shard[2][1]);
    },
    replicaOf: async (port) => {
      const lines = await nodesSeenBy(live().find((n) => n.port !== port)?.port ?? port);
      const master = lines.find((l) => l.port === port);
      return lines.find((l) => l.masterId === master?.id && !l.flags.includes("fail"))?.port;
    },
    synced: async (port) => (await client(port).wait(1, 2000)) >= 1,
    healthy,
  };
}
