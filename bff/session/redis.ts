// Builds an ioredis client from a URL. Supported forms (documented in bff/README.md):
//   redis://[user:pass@]host:port[/db]          standalone
//   rediss://...                                 standalone over TLS
//   redis-sentinel://[:pass@]h1:p1,h2:p2/<master>[?db=N]   (rediss-sentinel:// for TLS)
//   redis-cluster://[:pass@]h1:p1,h2:p2          (rediss-cluster:// for TLS)
// Commands fail fast while disconnected (no offline queue) so requests get a
// 503 at once instead of hanging; ioredis keeps reconnecting in the background.
import { Cluster, Redis, type RedisOptions } from "ioredis";

export type RedisClient = Redis | Cluster;

function hosts(list: string): { host: string; port: number }[] {
  return list.split(",").map((hp) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(hp.trim());
    return { host: m?.[1] || "127.0.0.1", port: Number(m?.[2] ?? 6379) };
  });
}

export function createRedis(url: string, onError: (err: Error) => void): RedisClient {
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 3000,
    retryStrategy: (times) => Math.min(50 + times * 100, 1000),
    lazyConnect: false,
  };
  // URL can't parse comma-separated hosts in all runtimes: split by hand.
  const m =
    /^(redis|rediss)(?:-(sentinel|cluster))?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)(\/[^?]*)?(?:\?(.*))?$/.exec(
      url,
    );
  if (!m) throw new Error("unparsable redis url");
  const [, scheme, kind, user, pass, hostList, path, query] = m;
  const tls = scheme === "rediss" ? {} : undefined;
  const username = user ? decodeURIComponent(user) : undefined;
  const password = pass ? decodeURIComponent(pass) : undefined;
  const params = new URLSearchParams(query ?? "");
  let client: RedisClient;
  if (kind === "cluster") {
    client = new Cluster(hosts(hostList), {
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => Math.min(50 + times * 100, 1000),
      redisOptions: { ...common, username, password, tls },
    });
  } else if (kind === "sentinel") {
    const name = (path ?? "").replace(/^\//, "") || params.get("name") || "mymaster";
    client = new Redis({
      ...common,
      sentinels: hosts(hostList),
      name,
      username,
      password,
      sentinelPassword: params.get("sentinelPassword") ?? undefined,
      db: Number(params.get("db") ?? 0),
      tls,
      enableTLSForSentinelMode: Boolean(tls),
    });
  } else {
    const db = Number((path ?? "/0").replace(/^\//, "") || 0);
    const [h] = hosts(hostList);
    client = new Redis({ ...common, ...h, username, password, db, tls });
  }
  client.on("error", onError);
  return client;
}

/** True if the error means "Redis is unavailable" (vs. a bug in our command). */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // The Cluster ones (redirections, TRYAGAIN, slots refresh) happen while a master fails over.
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Command timed out|MaxRetriesPerRequest|CLUSTERDOWN|LOADING|READONLY|enableOfflineQueue|Reached the max retries|None of the sentinels|Too many Cluster redirections|TRYAGAIN|Failed to refresh slots cache/i.test(
    err.message,
  );
}
